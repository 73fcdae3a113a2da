// Dataset specs (`[LAYOUT=]PATH[:SPLIT]`), layout detection, DomainNet/PACS list files with class
// names from their folders, Tiny ImageNet, and the image folders and idx files that the command
// line opened before (unchanged). Fixtures are written in each dataset's published layout into a
// temp dir; the Tiny ImageNet validation set of ../shared is used too when it is there.
#include <zlib.h>

#include <filesystem>

#include "data/dataset.h"
#include "data/labelled_files.h"
#include "data/layouts.h"
#include "experiments/evaluate.h"
#include "layout_fixtures.h"

using namespace pleas;
using namespace pleas::data;
using test::expect_error_mentioning;
using test::TempDir;
using test::write_image;
using test::write_text;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> sources(const Dataset& ds) {
  std::vector<std::string> s;
  for (size_t i = 0; i < ds.size(); ++i) s.push_back(ds.source(i));
  return s;
}

// PACS/DomainNet: <root>/<domain>/<class>/<file> and <root>/<domain>_{train,test}.txt.
void make_domainnet(const TempDir& t) {
  write_image(t / "photo/dog/a.jpg", 1);
  write_image(t / "photo/dog/b.jpg", 2);
  write_image(t / "photo/horse/c.jpg", 3);
  write_image(t / "photo/horse/d.png", 4);
  write_text(t / "photo_train.txt", "photo/dog/a.jpg 0\nphoto/horse/c.jpg 1\nphoto/dog/b.jpg 0\n");
  write_text(t / "photo_test.txt", "photo/horse/d.png 1\nphoto/dog/b.jpg 0\n");
}

}  // namespace

TEST(DataLayouts, ParseSpec) {
  DatasetSpec s = parse_dataset_spec("/no/such/cub:test");
  EXPECT_EQ(s.layout, "");
  EXPECT_EQ(s.path, "/no/such/cub");
  EXPECT_EQ(s.split, "test");
  s = parse_dataset_spec("nabirds=/no/such/nabirds:train");
  EXPECT_EQ(s.layout, "nabirds");
  EXPECT_EQ(s.path, "/no/such/nabirds");
  EXPECT_EQ(s.split, "train");
  s = parse_dataset_spec("/no/such/pacs64/photo");
  EXPECT_EQ(s.path, "/no/such/pacs64/photo");
  EXPECT_EQ(s.split, "");
  s = parse_dataset_spec("/no/a:b/c");  // a ':' before the last '/' is part of the path
  EXPECT_EQ(s.path, "/no/a:b/c");
  EXPECT_EQ(s.split, "");
  // A path that exists as written is taken whole, ':' and '=' included.
  TempDir t;
  write_image(t / "odd=name:x/cls/a.jpg");
  s = parse_dataset_spec(t / "odd=name:x");
  EXPECT_EQ(s.path, t / "odd=name:x");
  EXPECT_EQ(s.split, "");
  EXPECT_EQ(open_dataset_spec(t / "odd=name:x")->size(), 1u);
  expect_error_mentioning([] { parse_dataset_spec("flowers=/data/flowers:test"); },
                      {"unknown layout 'flowers'", "folder, list, domainnet, cub, nabirds, pets, dogs, tinyimagenet, idx"});
  expect_error_mentioning([] { open_dataset_spec("/no/such/dataset"); }, {"/no/such/dataset", "no such file or directory"});
  expect_error_mentioning([&] { write_text(t / "notes.csv", "x"); open_dataset_spec(t / "notes.csv"); },
                      {"notes.csv", "not a folder"});
}

TEST(DataLayouts, DetectsEachLayout) {
  TempDir t;
  write_text(t / "cub/images.txt", "");
  write_text(t / "cub/image_class_labels.txt", "");
  write_text(t / "pets/annotations/trainval.txt", "");
  write_text(t / "dogs/train_list.mat", "");
  write_text(t / "tiny/wnids.txt", "");
  write_text(t / "mnist/t10k-images-idx3-ubyte.gz", "");
  make_domainnet(t);
  write_image(t / "folder/cls/a.jpg");
  EXPECT_EQ(detect_layout(t / "cub"), "cub");
  EXPECT_EQ(detect_layout(t / "pets"), "pets");
  EXPECT_EQ(detect_layout(t / "dogs"), "dogs");
  EXPECT_EQ(detect_layout(t / "tiny"), "tinyimagenet");
  EXPECT_EQ(detect_layout(t / "mnist"), "idx");
  EXPECT_EQ(detect_layout(t / "x/train-images-idx3-ubyte.gz"), "idx");  // even when missing
  EXPECT_EQ(detect_layout(t / "photo"), "domainnet");
  EXPECT_EQ(detect_layout(t / "photo/"), "domainnet");
  EXPECT_EQ(detect_layout(t / "photo_train.txt"), "list");
  EXPECT_EQ(detect_layout(t / "folder"), "folder");
  EXPECT_EQ(detect_layout(t / "photo/dog"), "folder");
}

TEST(DataLayouts, DomainNetSplitsAndFolderClassNames) {
  TempDir t;
  make_domainnet(t);
  auto train = open_dataset_spec(t / "photo");  // default split: train
  ASSERT_EQ(train->size(), 3u);
  EXPECT_EQ(sources(*train), (std::vector<std::string>{t / "photo/dog/a.jpg", t / "photo/horse/c.jpg",
                                                        t / "photo/dog/b.jpg"}));
  EXPECT_EQ(train->labels(), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"dog", "horse"}));
  EXPECT_EQ(train->load(1).width, 4);
  auto test = open_dataset_spec(t / "photo:test");
  ASSERT_EQ(test->size(), 2u);
  EXPECT_EQ(test->source(0), t / "photo/horse/d.png");
  EXPECT_EQ(test->labels(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(open_dataset_spec(t / "photo", "test")->size(), 2u);  // the caller's default split
  EXPECT_EQ(open_dataset_spec("domainnet=" + (t / "photo") + ":test")->size(), 2u);
  // The list file itself, paths relative to its folder.
  auto list = open_dataset_spec(t / "photo_test.txt");
  EXPECT_EQ(sources(*list), sources(*test));
  EXPECT_EQ(list->class_names(), test->class_names());
  // The domain folder as a plain image folder, when asked for.
  auto folder = open_dataset_spec("folder=" + (t / "photo"));
  EXPECT_EQ(folder->size(), 4u);
  EXPECT_NE(dynamic_cast<const ImageFolderDataset*>(folder.get()), nullptr);

  // A model naming its classes in another order is matched by name.
  EXPECT_EQ(label_map({"horse", "dog"}, 2, *test), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(label_map({"cat", "dog"}, 2, *test), (std::vector<int64_t>{-1, 0}));
}

TEST(DataLayouts, FolderClassNamesOnlyWhenConsistent) {
  EXPECT_EQ(class_folder("clipart/aircraft_carrier/clipart_001_000018.jpg"), "aircraft_carrier");
  EXPECT_EQ(class_folder("n02085620-Chihuahua/n02085620_5927.jpg"), "n02085620-Chihuahua");
  EXPECT_EQ(class_folder("./a/b/c/d.jpg"), "b");
  EXPECT_EQ(class_folder("d.jpg"), "");
  const std::vector<std::string> p{"d/dog/1.jpg", "d/horse/2.jpg", "d/dog/3.jpg"};
  EXPECT_EQ(folder_class_names(p, {0, 1, 0}, 2), (std::vector<std::string>{"dog", "horse"}));
  EXPECT_TRUE(folder_class_names(p, {0, 1, 1}, 2).empty());     // label 1 in two folders
  EXPECT_TRUE(folder_class_names(p, {0, 1, 0}, 3).empty());     // label 2 has no sample
  EXPECT_TRUE(folder_class_names(p, {0, 0, 1}, 2).empty());     // folder dog holds two labels
  EXPECT_TRUE(folder_class_names({"1.jpg", "2.jpg"}, {0, 1}, 2).empty());
  // A ListFileDataset whose images lie in one folder carries no names.
  TempDir t;
  write_image(t / "flat/1.jpg");
  write_image(t / "flat/2.jpg");
  write_text(t / "flat.txt", "flat/1.jpg 0\nflat/2.jpg 1\n");
  EXPECT_TRUE(open_dataset_spec(t / "flat.txt")->class_names().empty());
}

TEST(DataLayouts, ListErrors) {
  TempDir t;
  make_domainnet(t);
  expect_error_mentioning([&] { open_dataset_spec(t / "photo:val"); },
                      {"photo_val.txt", "split 'val'", "splits: test, train"});
  expect_error_mentioning([&] { open_dataset_spec("domainnet=" + (t / "sketch")); },
                      {"sketch_train.txt", "no sketch_*.txt"});
  expect_error_mentioning([&] { open_dataset_spec(t / "photo_train.txt:test"); },
                      {"one split already", ":test"});
  write_text(t / "photo_gone.txt", "photo/dog/a.jpg 0\nphoto/dog/zzz.jpg 0\n");
  expect_error_mentioning([&] { open_dataset_spec(t / "photo:gone"); },
                      {"photo_gone.txt", t / "photo/dog/zzz.jpg", "does not exist"});
  write_text(t / "photo_bad.txt", "photo/dog/a.jpg 0\nphoto/dog/b.jpg\n");
  expect_error_mentioning([&] { open_dataset_spec(t / "photo_bad.txt"); }, {"photo_bad.txt:2", "relative/path label"});
}

TEST(DataLayouts, FoldersAndIdxFilesAsBefore) {
  TempDir t;
  write_image(t / "cifar/train/cat/1.png", 1);
  write_image(t / "cifar/train/dog/2.png", 2);
  write_image(t / "cifar/test/cat/3.png", 3);
  write_image(t / "cifar/test/dog/4.png", 4);
  auto whole = open_dataset(t / "cifar/train");  // the command line's open_dataset delegates
  ASSERT_NE(dynamic_cast<const ImageFolderDataset*>(whole.get()), nullptr);
  EXPECT_EQ(sources(*whole), sources(ImageFolderDataset(t / "cifar/train")));
  EXPECT_EQ(whole->class_names(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(sources(*open_dataset_spec(t / "cifar:test")), sources(ImageFolderDataset(t / "cifar/test")));
  expect_error_mentioning([&] { open_dataset_spec(t / "cifar:val"); }, {"unknown split 'val'", t / "cifar/val"});

  // idx: the images file, labels beside it (plain or gzipped); MNIST's names in a folder.
  std::string img = std::string("\0\0\x08\x03\0\0\0\x02\0\0\0\x01\0\0\0\x02", 16) + "\x01\x02\x03\x04";
  std::string lab = std::string("\0\0\x08\x01\0\0\0\x02", 8) + "\x05\x01";
  write_text(t / "fm/t10k-images-idx3-ubyte", img);
  write_text(t / "fm/t10k-labels-idx1-ubyte", lab);
  gzFile f = gzopen((t / "fm/train-images-idx3-ubyte.gz").c_str(), "wb");
  gzwrite(f, img.data(), unsigned(img.size()));
  gzclose(f);
  f = gzopen((t / "fm/train-labels-idx1-ubyte.gz").c_str(), "wb");
  gzwrite(f, lab.data(), unsigned(lab.size()));
  gzclose(f);
  auto idx = open_dataset(t / "fm/train-images-idx3-ubyte.gz");
  ASSERT_NE(dynamic_cast<const IdxDataset*>(idx.get()), nullptr);
  EXPECT_EQ(idx->labels(), (std::vector<int64_t>{5, 1}));
  EXPECT_EQ(idx->load(1).pixels, IdxDataset(t / "fm/train-images-idx3-ubyte.gz", t / "fm/train-labels-idx1-ubyte.gz").load(1).pixels);
  EXPECT_EQ(open_dataset_spec(t / "fm:test")->source(0), t / "fm/t10k-images-idx3-ubyte[0]");
  EXPECT_EQ(open_dataset_spec(t / "fm")->source(0), t / "fm/train-images-idx3-ubyte.gz[0]");
  expect_error_mentioning([&] { open_dataset_spec(t / "fm/t10k-images-idx3-ubyte:test"); }, {"one split already"});
  expect_error_mentioning([&] { open_dataset_spec(t / "fm:val"); }, {"unknown split 'val'"});
  expect_error_mentioning([&] { open_dataset(t / "gone-images-idx3-ubyte.gz"); }, {"gone-images-idx3-ubyte.gz"});
}

// ---------------------------------------------------------------- Tiny ImageNet

namespace {
void make_tiny(const TempDir& t, bool with_train) {
  write_text(t / "tiny/wnids.txt", "n02124075\nn04067472\nn04540053\n");
  write_text(t / "tiny/words.txt", "n02124075\tEgyptian cat\nn04067472\treel\nn04540053\tvolleyball\n");
  write_text(t / "tiny/val/val_annotations.txt",
             "val_0.JPEG\tn04540053\t0\t32\t44\t62\nval_1.JPEG\tn02124075\t52\t55\t57\t59\n"
             "val_2.JPEG\tn04067472\t4\t0\t60\t55\n");
  for (int i = 0; i < 3; ++i) write_image(t / ("tiny/val/images/val_" + std::to_string(i) + ".JPEG"), i);
  if (!with_train) return;
  for (const char* w : {"n02124075", "n04067472", "n04540053"}) {
    write_text(t / "tiny/train/" + w + "/" + w + "_boxes.txt", "");
    for (int i : {1, 0}) write_image(t / "tiny/train/" + w + "/images/" + w + "_" + std::to_string(i) + ".JPEG", i);
  }
}
}  // namespace

TEST(DataLayouts, TinyImageNetValAndTrain) {
  TempDir t;
  make_tiny(t, true);
  auto val = open_dataset_spec(t / "tiny:val");
  ASSERT_EQ(val->size(), 3u);
  EXPECT_EQ(val->labels(), (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(val->source(0), t / "tiny/val/images/val_0.JPEG");
  EXPECT_EQ(val->num_classes(), 3);
  EXPECT_EQ(val->class_names(), (std::vector<std::string>{"n02124075", "n04067472", "n04540053"}));
  auto train = open_dataset_spec("tinyimagenet=" + (t / "tiny"));
  ASSERT_EQ(train->size(), 6u);
  EXPECT_EQ(train->labels(), (std::vector<int64_t>{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(train->source(0), t / "tiny/train/n02124075/images/n02124075_0.JPEG");
  EXPECT_EQ(train->load(5).height, 3);
}

TEST(DataLayouts, TinyImageNetErrors) {
  TempDir t;
  make_tiny(t, false);
  expect_error_mentioning([&] { open_dataset_spec(t / "tiny"); }, {"no train/ folder", "'val'"});
  expect_error_mentioning([&] { open_dataset_spec(t / "tiny:test"); }, {"test split has no labels"});
  expect_error_mentioning([&] { open_dataset_spec(t / "tiny:dev"); }, {"unknown split 'dev'", "train, val"});
  write_text(t / "tiny/val/val_annotations.txt", "val_0.JPEG\tn04540053\t0\t32\t44\t62\nval_1.JPEG\tn99999999\t1\t2\t3\t4\n");
  expect_error_mentioning([&] { open_dataset_spec(t / "tiny:val"); }, {"val_annotations.txt:2", "n99999999", "not in wnids.txt"});
  write_text(t / "tiny/val/val_annotations.txt", "val_0.JPEG\tn04540053\nval_7.JPEG\tn04540053\n");
  expect_error_mentioning([&] { open_dataset_spec(t / "tiny:val"); },
                      {"val_annotations.txt:2", t / "tiny/val/images/val_7.JPEG", "does not exist"});
  write_text(t / "tiny/val/val_annotations.txt", "val_0.JPEG\n");
  expect_error_mentioning([&] { open_dataset_spec(t / "tiny:val"); }, {"val_annotations.txt:1", "expected '<file> <wnid>"});
  fs::remove(t / "tiny/wnids.txt");
  expect_error_mentioning([&] { open_dataset_spec("tinyimagenet=" + (t / "tiny") + ":val"); }, {"wnids.txt", "cannot open"});
}

TEST(DataLayouts, TinyImageNetSharedValidationSet) {
  const std::string shared = test::shared_dir();
  const std::string root = shared + "/data/tiny-imagenet-200";
  if (shared.empty() || !fs::exists(root + "/val/val_annotations.txt")) GTEST_SKIP() << "no " << root;
  auto val = open_dataset_spec(root + ":val");
  ASSERT_EQ(val->size(), 10000u);
  ASSERT_EQ(val->num_classes(), 200);
  std::vector<int> per_class(200, 0);
  for (int64_t l : val->labels()) ++per_class[size_t(l)];
  for (int n : per_class) EXPECT_EQ(n, 50);
  EXPECT_EQ(val->class_names()[size_t(val->label(0))], "n03444034");  // val_0.JPEG's wnid
  Image img = val->load(0);
  EXPECT_EQ(img.width, 64);
  EXPECT_EQ(img.height, 64);
  EXPECT_EQ(img.channels, 3);
}
