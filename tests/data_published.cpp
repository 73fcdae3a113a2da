// The readers of CUB-200-2011, NABirds, Oxford-IIIT Pets and Stanford Dogs (data/published.h),
// each on a tiny fixture written at test time into a temp dir in exactly the layout its authors
// publish: the metadata files under their own names (Stanford Dogs' MATLAB lists written here with
// libmatio, holding the same variables as the real ones), the images where the lists say. Every
// dataset is opened both by its reader and through open_dataset_spec (detected, with LAYOUT=, and
// with :SPLIT); the errors of a broken copy must name the file, the line and what is wrong.
#include <matio.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "data/labelled_files.h"
#include "data/layouts.h"
#include "data/published.h"
#include "layout_fixtures.h"

using namespace pleas;
using namespace pleas::data;
using test::expect_error_mentioning;
using test::TempDir;
using test::write_image;
using test::write_text;
namespace fs = std::filesystem;

namespace {

using Strings = std::vector<std::string>;
using Labels = std::vector<int64_t>;

Strings sources(const Dataset& ds) {
  Strings s;
  for (size_t i = 0; i < ds.size(); ++i) s.push_back(ds.source(i));
  return s;
}

// Every sample decodes to the 4 x 3 fixture image.
void expect_images_decode(const Dataset& ds) {
  for (size_t i = 0; i < ds.size(); ++i) {
    const Image img = ds.load(i);
    EXPECT_EQ(img.width, 4) << ds.source(i);
    EXPECT_EQ(img.height, 3) << ds.source(i);
  }
}

// Same samples, labels and classes.
void expect_same(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(sources(a), sources(b));
  EXPECT_EQ(a.labels(), b.labels());
  EXPECT_EQ(a.num_classes(), b.num_classes());
  EXPECT_EQ(a.class_names(), b.class_names());
}

// ------------------------------------------------------------------ CUB-200-2011

// CUB_200_2011/: images.txt, image_class_labels.txt, train_test_split.txt, classes.txt (and the
// files the readers do not need, bounding_boxes.txt and README), images/<class folder>/<file>.jpg.
// Six images of three classes; ids 2, 3, 6 are training images, 1, 4, 5 test images.
const Strings kCubFiles{
    "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg",
    "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg",
    "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg",
    "003.Sooty_Albatross/Sooty_Albatross_0031_1066.jpg",
    "002.Laysan_Albatross/Laysan_Albatross_0082_524.jpg",
    "003.Sooty_Albatross/Sooty_Albatross_0079_796358.jpg",
};

std::string make_cub(const TempDir& t) {
  const std::string root = t / "CUB_200_2011";
  std::string images;
  for (size_t i = 0; i < kCubFiles.size(); ++i) {
    images += std::to_string(i + 1) + " " + kCubFiles[i] + "\n";
    write_image(root + "/images/" + kCubFiles[i], int(i));
  }
  write_text(root + "/images.txt", images);
  write_text(root + "/image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n5 2\n6 3\n");
  write_text(root + "/train_test_split.txt", "1 0\n2 1\n3 1\n4 0\n5 0\n6 1\n");
  write_text(root + "/classes.txt", "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n");
  write_text(root + "/bounding_boxes.txt", "1 60.0 27.0 325.0 304.0\n2 139.0 30.0 153.0 264.0\n");
  write_text(root + "/README", "The Caltech-UCSD Birds-200-2011 Dataset\n");
  return root;
}

Strings cub_paths(const std::string& root, const std::vector<size_t>& ids) {
  Strings p;
  for (size_t id : ids) p.push_back(root + "/images/" + kCubFiles[id - 1]);
  return p;
}

}  // namespace

TEST(DataPublished, CubSplitsLabelsAndClassNames) {
  TempDir t;
  const std::string root = make_cub(t);
  const Strings names{"001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"};

  auto train = open_cub(root, "train");
  ASSERT_EQ(train->size(), 3u);
  EXPECT_EQ(sources(*train), cub_paths(root, {2, 3, 6}));  // images.txt order
  EXPECT_EQ(train->labels(), (Labels{0, 1, 2}));            // class ids 1..3 -> 0..2
  EXPECT_EQ(train->num_classes(), 3);
  EXPECT_EQ(train->class_names(), names);
  expect_images_decode(*train);
  EXPECT_EQ(train->load(0).pixels, decode_image(root + "/images/" + kCubFiles[1]).pixels);

  auto test = open_cub(root, "test");
  ASSERT_EQ(test->size(), 3u);
  EXPECT_EQ(sources(*test), cub_paths(root, {1, 4, 5}));
  EXPECT_EQ(test->labels(), (Labels{0, 2, 1}));
  EXPECT_EQ(test->num_classes(), 3);
  EXPECT_EQ(test->class_names(), names);
  expect_images_decode(*test);

  // Through the spec: detected, named, with and without a split, and the caller's default.
  EXPECT_EQ(detect_layout(root), "cub");
  expect_same(*open_dataset_spec(root), *train);
  expect_same(*open_dataset_spec(root + ":train"), *train);
  expect_same(*open_dataset_spec(root + ":test"), *test);
  expect_same(*open_dataset_spec(root, "test"), *test);
  expect_same(*open_dataset_spec("cub=" + root + ":test"), *test);
  expect_same(*open_dataset_spec("cub=" + root), *train);
  expect_same(*open_dataset_spec(root + "/:test"), *test);  // a trailing '/'
}

TEST(DataPublished, CubLabelsFollowClassIdsNotFileOrder) {
  // Class ids listed out of order in classes.txt, and lines of the other files in another order
  // than images.txt: labels are still the ids' ranks, samples still in images.txt's order.
  TempDir t;
  const std::string root = make_cub(t);
  write_text(root + "/classes.txt", "3 003.Sooty_Albatross\n1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n");
  write_text(root + "/image_class_labels.txt", "6 3\n5 2\n4 3\n3 2\n2 1\n1 1\n");
  write_text(root + "/train_test_split.txt", "6 1\n1 0\n2 1\n3 1\n4 0\n5 0\n");
  auto train = open_dataset_spec(root + ":train");
  EXPECT_EQ(sources(*train), cub_paths(root, {2, 3, 6}));
  EXPECT_EQ(train->labels(), (Labels{0, 1, 2}));
  EXPECT_EQ(train->class_names(),
            (Strings{"001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"}));
}

TEST(DataPublished, CubErrors) {
  TempDir t;
  const std::string root = make_cub(t);

  expect_error_mentioning([&] { open_dataset_spec(root + ":val"); },
                          {"CUB", "unknown split 'val'", "splits: train, test"});
  expect_error_mentioning([&] { open_cub(root, "trainval"); }, {"unknown split 'trainval'", "splits: train, test"});

  // Each metadata file missing: the error names it.
  for (const char* f : {"train_test_split.txt", "classes.txt"}) {
    TempDir u;
    const std::string r = make_cub(u);
    fs::remove(r + "/" + f);
    expect_error_mentioning([&] { open_dataset_spec(r + ":test"); }, {"CUB", r + "/" + f, "cannot open"});
  }
  {
    TempDir u;
    const std::string r = make_cub(u);
    fs::remove(r + "/image_class_labels.txt");  // no longer detected as CUB; named, it is an error
    expect_error_mentioning([&] { open_dataset_spec("cub=" + r + ":test"); },
                            {r + "/image_class_labels.txt", "cannot open"});
  }

  // A listed image that is not there: the image and the line of images.txt that lists it.
  fs::remove(root + "/images/" + kCubFiles[3]);
  expect_error_mentioning([&] { open_dataset_spec(root + ":test"); },
                          {"CUB", root + "/images.txt:4", root + "/images/" + kCubFiles[3], "does not exist"});
  write_image(root + "/images/" + kCubFiles[3]);

  // Malformed lines: the file, the line number and what is wrong.
  write_text(root + "/image_class_labels.txt", "1 1\n2 1\n3 two\n4 3\n5 2\n6 3\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/image_class_labels.txt:3", "'two' is not an integer", "'3 two'"});
  write_text(root + "/image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n5\n6 3\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/image_class_labels.txt:5", "expected '<image id> <class id>'"});
  write_text(root + "/image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n5 2\n6 3\n3 1\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/image_class_labels.txt:7", "image id '3' listed twice"});
  write_text(root + "/image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n6 3\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/images.txt:5", "image id '5' has no line in", "image_class_labels.txt"});
  write_text(root + "/image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n5 2\n6 4\n");
  expect_error_mentioning([&] { open_dataset_spec(root); }, {"class id 4", "is not in", root + "/classes.txt"});
  write_text(root + "/image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n5 2\n6 3\n");

  write_text(root + "/train_test_split.txt", "1 0\n2 1\n3 2\n4 0\n5 0\n6 1\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/train_test_split.txt:3", "is_train must be 0 or 1"});
  write_text(root + "/train_test_split.txt", "1 0\n2 0\n3 0\n4 0\n5 0\n6 0\n");
  expect_error_mentioning([&] { open_dataset_spec(root); }, {"no image in split 'train'", "train_test_split.txt"});
  write_text(root + "/train_test_split.txt", "1 0\n2 1\n3 1\n4 0\n5 0\n6 1\n");

  write_text(root + "/images.txt", "1 " + kCubFiles[0] + "\n2\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/images.txt:2", "expected '<image id> <relative path>'"});
  write_text(root + "/images.txt", "\n");
  expect_error_mentioning([&] { open_dataset_spec(root); }, {root + "/images.txt", "lists no image"});
  write_text(root + "/classes.txt", "1 001.Black_footed_Albatross\n1 002.Laysan_Albatross\n");
  write_text(root + "/images.txt", "1 " + kCubFiles[0] + "\n");
  expect_error_mentioning([&] { open_dataset_spec(root + ":test"); },
                          {root + "/classes.txt:2", "class id listed twice"});
}

// ------------------------------------------------------------------ NABirds

namespace {

// nabirds/: CUB's files, but image ids are UUIDs, images lie in folders named by the zero-padded
// class id, and classes.txt lists the whole hierarchy (hierarchy.txt: "<child> <parent>"), whose
// inner nodes have no images; names hold spaces, commas, parentheses and apostrophes.
struct NaImage { const char* uuid; int class_id; int train; };
const std::vector<NaImage> kNaImages{
    {"0000139e-21dc-4d0c-bfe1-4cae3c85c829", 817, 0},
    {"0000d9fc-4e02-4c06-a0af-a55cfb16b12b", 860, 1},
    {"00019306-9d83-4334-b255-a447742edce3", 900, 1},
    {"0001afd4-99a1-4a67-b940-d419413e23b3", 645, 0},
    {"000332b8-997c-4540-9647-2f0a8495aecf", 817, 1},
    {"000343bd-5215-49ba-ab9c-7c97a70ac1a5", 900, 0},
};

std::string na_file(const NaImage& im) {
  std::string hex;
  for (const char* c = im.uuid; *c; ++c)
    if (*c != '-') hex += *c;
  char folder[8];
  std::snprintf(folder, sizeof folder, "%04d", im.class_id);
  return std::string(folder) + "/" + hex + ".jpg";
}

std::string make_nabirds(const TempDir& t) {
  const std::string root = t / "nabirds";
  std::string images, labels, split, sizes;
  for (size_t i = 0; i < kNaImages.size(); ++i) {
    const NaImage& im = kNaImages[i];
    images += std::string(im.uuid) + " " + na_file(im) + "\n";
    labels += std::string(im.uuid) + " " + std::to_string(im.class_id) + "\n";
    split += std::string(im.uuid) + " " + std::to_string(im.train) + "\n";
    sizes += std::string(im.uuid) + " 4 3\n";
    write_image(root + "/images/" + na_file(im), int(i));
  }
  write_text(root + "/images.txt", images);
  write_text(root + "/image_class_labels.txt", labels);
  write_text(root + "/train_test_split.txt", split);
  write_text(root + "/sizes.txt", sizes);
  write_text(root + "/classes.txt",
             "0 Birds\n"
             "1 Ducks, Geese, and Swans\n"
             "22 Perching Birds\n"
             "98 Wrens\n"
             "263 Hawks, Kites, Eagles, and Allies\n"
             "645 Bewick's Wren\n"
             "817 Red-tailed Hawk (Adult)\n"
             "860 Canada Goose\n"
             "900 Red-tailed Hawk (Immature)\n");
  write_text(root + "/hierarchy.txt", "1 0\n22 0\n98 22\n263 0\n645 98\n817 263\n860 1\n900 263\n");
  return root;
}

Strings na_paths(const std::string& root, const std::vector<size_t>& indices) {
  Strings p;
  for (size_t i : indices) p.push_back(root + "/images/" + na_file(kNaImages[i]));
  return p;
}

}  // namespace

TEST(DataPublished, NabirdsSparseClassIdsBecomeDenseLabels) {
  TempDir t;
  const std::string root = make_nabirds(t);
  // The classes that have images, in id order: 645, 817, 860, 900 -> 0, 1, 2, 3; the parents
  // 0, 1, 22, 98, 263 are not classes.
  const Strings names{"Bewick's Wren", "Red-tailed Hawk (Adult)", "Canada Goose", "Red-tailed Hawk (Immature)"};

  auto train = open_cub(root, "train", "NABirds");
  ASSERT_EQ(train->size(), 3u);
  EXPECT_EQ(sources(*train), na_paths(root, {1, 2, 4}));
  EXPECT_EQ(train->labels(), (Labels{2, 3, 1}));
  EXPECT_EQ(train->num_classes(), 4);  // 645 has only a test image, and is a class of train too
  EXPECT_EQ(train->class_names(), names);
  expect_images_decode(*train);

  auto test = open_cub(root, "test", "NABirds");
  ASSERT_EQ(test->size(), 3u);
  EXPECT_EQ(sources(*test), na_paths(root, {0, 3, 5}));
  EXPECT_EQ(test->labels(), (Labels{1, 0, 3}));
  EXPECT_EQ(test->num_classes(), 4);
  EXPECT_EQ(test->class_names(), names);
  expect_images_decode(*test);

  EXPECT_EQ(detect_layout(root), "cub");
  expect_same(*open_dataset_spec(root), *train);
  expect_same(*open_dataset_spec(root + ":test"), *test);
  expect_same(*open_dataset_spec("nabirds=" + root + ":train"), *train);
  expect_same(*open_dataset_spec("nabirds=" + root + ":test"), *test);
  expect_same(*open_dataset_spec("cub=" + root + ":test"), *test);
}

TEST(DataPublished, NabirdsErrors) {
  TempDir t;
  const std::string root = make_nabirds(t);
  expect_error_mentioning([&] { open_dataset_spec("nabirds=" + root + ":val"); },
                          {"NABirds", "unknown split 'val'", "splits: train, test"});
  const NaImage& gone = kNaImages[5];
  fs::remove(root + "/images/" + na_file(gone));
  expect_error_mentioning([&] { open_dataset_spec("nabirds=" + root + ":test"); },
                          {"NABirds", root + "/images.txt:6", root + "/images/" + na_file(gone), "does not exist"});
  write_image(root + "/images/" + na_file(gone));
  // An image whose class is not in classes.txt.
  write_text(root + "/classes.txt", "0 Birds\n645 Bewick's Wren\n817 Red-tailed Hawk (Adult)\n860 Canada Goose\n");
  expect_error_mentioning([&] { open_dataset_spec("nabirds=" + root); },
                          {"NABirds", "class id 900", root + "/classes.txt"});
  write_text(root + "/classes.txt", "0 Birds\n645\n");
  expect_error_mentioning([&] { open_dataset_spec("nabirds=" + root); },
                          {"NABirds", root + "/classes.txt:2", "expected '<class id> <class name>'"});
  fs::remove(root + "/train_test_split.txt");
  expect_error_mentioning([&] { open_dataset_spec("nabirds=" + root); },
                          {"NABirds", root + "/train_test_split.txt", "cannot open"});
}

// ------------------------------------------------------------------ Oxford-IIIT Pets

namespace {

// oxford-iiit-pet/: annotations/{list,trainval,test}.txt ("<image> <class id> <species> <breed
// id>", list.txt with its '#' header), annotations/trimaps/ and xmls/ (unused), images/<image>.jpg.
// Three classes: 1 Abyssinian (cat), 2 american_bulldog and 3 american_pit_bull_terrier (dogs);
// american_pit_bull_terrier has test images only.
const char* const kPetsHeader =
    "#Image CLASS-ID SPECIES BREED ID\n"
    "#ID: 1:37 Class ids\n"
    "#SPECIES: 1:Cat 2:Dog\n"
    "#BREED ID: 1-25:Cat 1:12:Dog\n"
    "#All images with 1st letter as captial are cat images\n"
    "#images with small first letter are dog images\n";
const char* const kPetsTrainval =
    "Abyssinian_100 1 1 1\n"
    "Abyssinian_101 1 1 1\n"
    "american_bulldog_100 2 2 1\n";
const char* const kPetsTest =
    "Abyssinian_1 1 1 1\n"
    "american_bulldog_10 2 2 1\n"
    "american_pit_bull_terrier_1 3 2 2\n"
    "american_pit_bull_terrier_10 3 2 2\n";

std::string make_pets(const TempDir& t) {
  const std::string root = t / "oxford-iiit-pet";
  write_text(root + "/annotations/list.txt", std::string(kPetsHeader) + kPetsTest + kPetsTrainval);
  write_text(root + "/annotations/trainval.txt", std::string(kPetsHeader) + kPetsTrainval);
  write_text(root + "/annotations/test.txt", kPetsTest);
  write_text(root + "/annotations/README", "Oxford-IIIT Pet Dataset\n");
  fs::create_directories(root + "/annotations/trimaps");
  fs::create_directories(root + "/annotations/xmls");
  int seed = 0;
  for (const char* n : {"Abyssinian_100", "Abyssinian_101", "american_bulldog_100", "Abyssinian_1",
                        "american_bulldog_10", "american_pit_bull_terrier_1", "american_pit_bull_terrier_10"})
    write_image(root + "/images/" + n + ".jpg", seed++);
  return root;
}

Strings pets_paths(const std::string& root, const Strings& names) {
  Strings p;
  for (const auto& n : names) p.push_back(root + "/images/" + n + ".jpg");
  return p;
}

}  // namespace

TEST(DataPublished, PetsSplitsLabelsAndClassNames) {
  TempDir t;
  const std::string root = make_pets(t);
  const Strings names{"Abyssinian", "american_bulldog", "american_pit_bull_terrier"};

  auto trainval = open_pets(root, "trainval");
  ASSERT_EQ(trainval->size(), 3u);  // the '#' lines are no samples
  EXPECT_EQ(sources(*trainval), pets_paths(root, {"Abyssinian_100", "Abyssinian_101", "american_bulldog_100"}));
  EXPECT_EQ(trainval->labels(), (Labels{0, 0, 1}));
  EXPECT_EQ(trainval->num_classes(), 3);  // class 3 from test.txt
  EXPECT_EQ(trainval->class_names(), names);
  expect_images_decode(*trainval);

  auto test = open_pets(root, "test");
  ASSERT_EQ(test->size(), 4u);
  EXPECT_EQ(sources(*test), pets_paths(root, {"Abyssinian_1", "american_bulldog_10", "american_pit_bull_terrier_1",
                                              "american_pit_bull_terrier_10"}));
  EXPECT_EQ(test->labels(), (Labels{0, 1, 2, 2}));
  EXPECT_EQ(test->num_classes(), 3);
  EXPECT_EQ(test->class_names(), names);
  expect_images_decode(*test);

  expect_same(*open_pets(root, "train"), *trainval);  // the alias
  EXPECT_EQ(detect_layout(root), "pets");
  expect_same(*open_dataset_spec(root), *trainval);
  expect_same(*open_dataset_spec(root + ":train"), *trainval);
  expect_same(*open_dataset_spec(root + ":trainval"), *trainval);
  expect_same(*open_dataset_spec(root + ":test"), *test);
  expect_same(*open_dataset_spec("pets=" + root + ":test"), *test);
  expect_same(*open_dataset_spec("pets=" + root), *trainval);
}

TEST(DataPublished, PetsWithOneListOnly) {
  // Without test.txt the trainval split still opens, its classes from its own list.
  TempDir t;
  const std::string root = make_pets(t);
  fs::remove(root + "/annotations/test.txt");
  auto trainval = open_dataset_spec(root);
  EXPECT_EQ(trainval->size(), 3u);
  EXPECT_EQ(trainval->num_classes(), 2);
  EXPECT_EQ(trainval->class_names(), (Strings{"Abyssinian", "american_bulldog"}));
  expect_error_mentioning([&] { open_dataset_spec(root + ":test"); },
                          {"Oxford-IIIT Pets", root + "/annotations/test.txt", "cannot open"});
}

TEST(DataPublished, PetsErrors) {
  TempDir t;
  const std::string root = make_pets(t);
  expect_error_mentioning([&] { open_dataset_spec(root + ":val"); },
                          {"Oxford-IIIT Pets", "unknown split 'val'", "splits: trainval, train, test"});
  fs::remove(root + "/images/american_pit_bull_terrier_1.jpg");
  expect_error_mentioning([&] { open_dataset_spec(root + ":test"); },
                          {"Oxford-IIIT Pets", root + "/annotations/test.txt:3",
                           root + "/images/american_pit_bull_terrier_1.jpg", "does not exist"});
  write_image(root + "/images/american_pit_bull_terrier_1.jpg");

  // Malformed lines, counted with the '#' lines: line 8 is the second record of trainval.txt.
  write_text(root + "/annotations/trainval.txt", std::string(kPetsHeader) + "Abyssinian_100 1 1 1\nAbyssinian_101 1 1\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/annotations/trainval.txt:8", "expected '<image> <class id> <species> <breed id>'"});
  write_text(root + "/annotations/trainval.txt", std::string(kPetsHeader) + "Abyssinian_100 one 1 1\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/annotations/trainval.txt:7", "'one' is not an integer"});
  write_text(root + "/annotations/trainval.txt", std::string(kPetsHeader) + "Abyssinian_100 0 1 1\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/annotations/trainval.txt:7", "class id 0 is not 1 or more"});
  write_text(root + "/annotations/trainval.txt", "Abyssinian100 1 1 1\n");
  expect_error_mentioning([&] { open_dataset_spec(root); },
                          {root + "/annotations/trainval.txt:1", "'Abyssinian100' is not '<breed>_<number>'"});
  // The other list is read for the class names, so a broken test.txt is reported for trainval too.
  write_text(root + "/annotations/trainval.txt", kPetsTrainval);
  write_text(root + "/annotations/test.txt", "Abyssinian_1 1 1 1\nbroken\n");
  expect_error_mentioning([&] { open_dataset_spec(root); }, {root + "/annotations/test.txt:2"});
  write_text(root + "/annotations/test.txt", "# nothing but comments\n");
  expect_error_mentioning([&] { open_dataset_spec(root + ":test"); }, {root + "/annotations/test.txt", "lists no image"});
  fs::remove(root + "/annotations/test.txt");
  fs::remove(root + "/annotations/trainval.txt");
  expect_error_mentioning([&] { open_dataset_spec("pets=" + root); },
                          {root + "/annotations/trainval.txt", "cannot open"});
}

// ------------------------------------------------------------------ Stanford Dogs

namespace {

// How the characters of a MATLAB char array are stored: 16-bit code units as MATLAB writes them,
// or 8-bit ones as other writers may.
enum class Chars { utf16, utf8 };

struct MatDeleter { void operator()(mat_t* m) const { Mat_Close(m); } };

matvar_t* char_var(const std::string& s, Chars chars) {
  size_t dims[2] = {1, s.size()};
  if (chars == Chars::utf8)
    return Mat_VarCreate(nullptr, MAT_C_CHAR, MAT_T_UINT8, 2, dims, const_cast<char*>(s.data()), 0);
  std::vector<uint16_t> u(s.begin(), s.end());
  return Mat_VarCreate(nullptr, MAT_C_CHAR, MAT_T_UINT16, 2, dims, u.data(), 0);
}

// An N x 1 cell array of 1 x L char arrays, as MATLAB's cellstr columns.
matvar_t* cellstr_var(const char* name, const Strings& strings, Chars chars) {
  size_t dims[2] = {strings.size(), 1};
  matvar_t* cell = Mat_VarCreate(name, MAT_C_CELL, MAT_T_CELL, 2, dims, nullptr, 0);
  for (size_t i = 0; i < strings.size(); ++i) Mat_VarSetCell(cell, int(i), char_var(strings[i], chars));
  return cell;
}

// MATLAB compresses its variables; matio 1.5.23 writes 8-bit char arrays inside a compressed cell
// so that it cannot read back past the first one, so those are written uncompressed.
void write_var(mat_t* m, matvar_t* v, Chars chars = Chars::utf16) {
  ASSERT_NE(v, nullptr);
  const matio_compression c = chars == Chars::utf16 ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE;
  EXPECT_EQ(Mat_VarWrite(m, v, c), 0) << v->name;
  Mat_VarFree(v);
}

// What a list file holds: the variables of the published train_list.mat / test_list.mat,
// `file_list` ("<folder>/<file>.jpg"), `annotation_list` (the same without ".jpg", paths under
// Annotation/) and `labels` (an N x 1 double column, 1-based), in that order; any may be left out.
struct DogsVars {
  bool file_list = true, annotation_list = true, labels = true;
  Chars chars = Chars::utf16;
};

void write_dogs_mat(const std::string& path, const Strings& files, const std::vector<double>& labels,
                    DogsVars vars = {}) {
  test::make_parent_dirs(path);
  std::unique_ptr<mat_t, MatDeleter> m(Mat_CreateVer(path.c_str(), "MATLAB 5.0 MAT-file, written by the pleas tests",
                                                     MAT_FT_MAT5));
  ASSERT_NE(m, nullptr) << path;
  if (vars.file_list) write_var(m.get(), cellstr_var("file_list", files, vars.chars), vars.chars);
  if (vars.annotation_list) {
    Strings annotations;
    for (const auto& f : files) annotations.push_back(f.substr(0, f.rfind('.')));
    write_var(m.get(), cellstr_var("annotation_list", annotations, vars.chars), vars.chars);
  }
  if (vars.labels) {
    std::vector<double> l = labels;
    size_t dims[2] = {l.size(), 1};
    write_var(m.get(), Mat_VarCreate("labels", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, l.data(), 0));
  }
}

const Strings kDogsTrain{
    "n02085620-Chihuahua/n02085620_5927.jpg",
    "n02085620-Chihuahua/n02085620_4441.jpg",
    "n02085782-Japanese_spaniel/n02085782_2874.jpg",
    "n02085936-Maltese_dog/n02085936_8350.jpg",
};
const std::vector<double> kDogsTrainLabels{1, 1, 2, 3};
// Test images of classes 1 and 3 only; test still has all three classes.
const Strings kDogsTest{
    "n02085936-Maltese_dog/n02085936_10073.jpg",
    "n02085620-Chihuahua/n02085620_2650.jpg",
    "n02085936-Maltese_dog/n02085936_11431.jpg",
};
const std::vector<double> kDogsTestLabels{3, 1, 3};

// StanfordDogs/: the lists (lists.tar: file_list.mat, train_list.mat, test_list.mat), the images
// (images.tar: Images/<folder>/<file>.jpg), the boxes (annotation.tar: Annotation/<folder>/<file>).
// train_list.mat stores its characters as MATLAB does, test_list.mat as 8-bit ones.
std::string make_dogs(const TempDir& t) {
  const std::string root = t / "StanfordDogs";
  write_dogs_mat(root + "/train_list.mat", kDogsTrain, kDogsTrainLabels);
  write_dogs_mat(root + "/test_list.mat", kDogsTest, kDogsTestLabels, {true, true, true, Chars::utf8});
  Strings all = kDogsTrain;
  all.insert(all.end(), kDogsTest.begin(), kDogsTest.end());
  write_dogs_mat(root + "/file_list.mat", all, {1, 1, 2, 3, 3, 1, 3});
  int seed = 0;
  for (const auto& f : all) {
    write_image(root + "/Images/" + f, seed++);
    write_text(root + "/Annotation/" + f.substr(0, f.rfind('.')), "<annotation></annotation>\n");
  }
  return root;
}

Strings dogs_paths(const std::string& root, const Strings& files) {
  Strings p;
  for (const auto& f : files) p.push_back(root + "/Images/" + f);
  return p;
}

}  // namespace

TEST(DataPublished, StanfordDogsListsWrittenWithMatio) {
  TempDir t;
  const std::string root = make_dogs(t);
  // The fixture holds what the published lists hold.
  {
    std::unique_ptr<mat_t, MatDeleter> m(Mat_Open((root + "/train_list.mat").c_str(), MAT_ACC_RDONLY));
    ASSERT_NE(m, nullptr);
    Strings names;
    while (matvar_t* v = Mat_VarReadNextInfo(m.get())) {
      names.push_back(v->name);
      if (names.back() == "labels") {
        EXPECT_EQ(v->class_type, MAT_C_DOUBLE);
        EXPECT_EQ(v->dims[0], 4u);
        EXPECT_EQ(v->dims[1], 1u);
      }
      Mat_VarFree(v);
    }
    EXPECT_EQ(names, (Strings{"file_list", "annotation_list", "labels"}));
  }
  const Strings names{"n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02085936-Maltese_dog"};

  auto train = open_stanford_dogs(root, "train");
  ASSERT_EQ(train->size(), 4u);
  EXPECT_EQ(sources(*train), dogs_paths(root, kDogsTrain));
  EXPECT_EQ(train->labels(), (Labels{0, 0, 1, 2}));
  EXPECT_EQ(train->num_classes(), 3);
  EXPECT_EQ(train->class_names(), names);
  expect_images_decode(*train);

  auto test = open_stanford_dogs(root, "test");
  ASSERT_EQ(test->size(), 3u);
  EXPECT_EQ(sources(*test), dogs_paths(root, kDogsTest));
  EXPECT_EQ(test->labels(), (Labels{2, 0, 2}));
  EXPECT_EQ(test->num_classes(), 3);  // class 2 from train_list.mat
  EXPECT_EQ(test->class_names(), names);
  expect_images_decode(*test);

  EXPECT_EQ(detect_layout(root), "dogs");
  expect_same(*open_dataset_spec(root), *train);
  expect_same(*open_dataset_spec(root + ":train"), *train);
  expect_same(*open_dataset_spec(root + ":test"), *test);
  expect_same(*open_dataset_spec("dogs=" + root + ":test"), *test);
  expect_same(*open_dataset_spec("dogs=" + root), *train);

  // Uncompressed, and with file_list alone (no annotation_list): the same.
  TempDir u;
  const std::string r2 = u / "dogs";
  fs::create_directories(r2);
  fs::create_directory_symlink(root + "/Images", r2 + "/Images");
  write_dogs_mat(r2 + "/test_list.mat", kDogsTest, kDogsTestLabels, {true, false, true, Chars::utf16});
  auto only_test = open_dataset_spec(r2 + ":test");
  EXPECT_EQ(sources(*only_test), dogs_paths(r2, kDogsTest));
  EXPECT_EQ(only_test->labels(), (Labels{2, 0, 2}));
  EXPECT_EQ(only_test->num_classes(), 3);         // the highest class number, 3
  EXPECT_TRUE(only_test->class_names().empty());  // class 2 has no image here: no names
}

TEST(DataPublished, StanfordDogsErrors) {
  TempDir t;
  const std::string root = make_dogs(t);
  const std::string train_list = root + "/train_list.mat", test_list = root + "/test_list.mat";
  expect_error_mentioning([&] { open_dataset_spec(root + ":val"); },
                          {"Stanford Dogs", "unknown split 'val'", "splits: train, test"});

  fs::remove(root + "/Images/" + kDogsTest[2]);
  expect_error_mentioning([&] { open_dataset_spec(root + ":test"); },
                          {"Stanford Dogs", test_list, "file_list{3}", root + "/Images/" + kDogsTest[2], "does not exist"});
  write_image(root + "/Images/" + kDogsTest[2]);

  // Not a MATLAB file: text, empty, a few bytes, a MAT file cut short.
  fs::copy_file(train_list, t / "good.mat");
  const auto good_size = fs::file_size(train_list);
  for (int kind = 0; kind < 4; ++kind) {
    SCOPED_TRACE(kind);
    if (kind == 0) write_text(train_list, "n02085620-Chihuahua/n02085620_5927.jpg 1\n");
    if (kind == 1) write_text(train_list, "");
    if (kind == 2) write_text(train_list, "MATLAB");
    if (kind == 3) {
      fs::copy_file(t / "good.mat", train_list, fs::copy_options::overwrite_existing);
      fs::resize_file(train_list, good_size - 40);
    }
    expect_error_mentioning([&] { open_dataset_spec(root + ":train"); }, {"Stanford Dogs", train_list});
    expect_error_mentioning([&] { open_dataset_spec(root + ":test"); }, {"Stanford Dogs", train_list});
  }
  fs::copy_file(t / "good.mat", train_list, fs::copy_options::overwrite_existing);
  write_text(train_list, "not a MATLAB file, only text that goes on for longer than a MAT file header does: "
                         "128 bytes of description, then version and endian marks......................");
  expect_error_mentioning([&] { open_dataset_spec(root); }, {train_list, "not a MATLAB file"});

  // Variables missing or of the wrong kind: the variable is named.
  write_dogs_mat(train_list, kDogsTrain, kDogsTrainLabels, {false, true, true, Chars::utf16});
  expect_error_mentioning([&] { open_dataset_spec(root); }, {"Stanford Dogs", train_list, "no variable 'file_list'"});
  write_dogs_mat(train_list, kDogsTrain, kDogsTrainLabels, {true, true, false, Chars::utf16});
  expect_error_mentioning([&] { open_dataset_spec(root); }, {"Stanford Dogs", train_list, "no variable 'labels'"});
  write_dogs_mat(train_list, kDogsTrain, {1, 1, 2});
  expect_error_mentioning([&] { open_dataset_spec(root); }, {train_list, "'file_list' has 4 entries but 'labels' 3"});
  write_dogs_mat(train_list, kDogsTrain, {1, 0, 2, 3});
  expect_error_mentioning([&] { open_dataset_spec(root); }, {train_list, "labels(2) = 0", "not a class number"});
  write_dogs_mat(train_list, kDogsTrain, {1, 1, 2.5, 3});
  expect_error_mentioning([&] { open_dataset_spec(root); }, {train_list, "labels(3) = 2.5"});
  {
    std::unique_ptr<mat_t, MatDeleter> m(Mat_CreateVer(train_list.c_str(), nullptr, MAT_FT_MAT5));
    ASSERT_NE(m, nullptr);
    std::string s = "n02085620-Chihuahua/n02085620_5927.jpg";
    size_t dims[2] = {1, s.size()};
    write_var(m.get(), Mat_VarCreate("file_list", MAT_C_CHAR, MAT_T_UINT8, 2, dims, s.data(), 0));
    double one = 1;
    size_t one_dims[2] = {1, 1};
    write_var(m.get(), Mat_VarCreate("labels", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, one_dims, &one, 0));
  }
  expect_error_mentioning([&] { open_dataset_spec(root); }, {train_list, "'file_list' is not a cell array"});
  {
    // A cell of numbers where the paths should be.
    std::unique_ptr<mat_t, MatDeleter> m(Mat_CreateVer(train_list.c_str(), nullptr, MAT_FT_MAT5));
    ASSERT_NE(m, nullptr);
    size_t dims[2] = {1, 1};
    matvar_t* cell = Mat_VarCreate("file_list", MAT_C_CELL, MAT_T_CELL, 2, dims, nullptr, 0);
    double seven = 7;
    Mat_VarSetCell(cell, 0, Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, &seven, 0));
    write_var(m.get(), cell);
    write_var(m.get(), Mat_VarCreate("labels", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, &seven, 0));
  }
  expect_error_mentioning([&] { open_dataset_spec(root); }, {train_list, "file_list{1} is not a char array"});

  // The split's own list missing (the other one there).
  fs::remove(train_list);
  expect_error_mentioning([&] { open_dataset_spec("dogs=" + root + ":train"); },
                          {"Stanford Dogs", train_list, "cannot open", "missing"});
  EXPECT_EQ(open_dataset_spec(root + ":test")->size(), 3u);  // test alone still opens
}
