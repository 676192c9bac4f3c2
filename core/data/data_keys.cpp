#include "core/data/data_keys.hpp"

#include <fmt/core.h>

#include "core/data/data.hpp"

namespace ldae {

KeyRows data_keys() {
  return {
      choice(field("data.name", &RunConfig::data, &DataConfig::name), dataset_names),
      not_in_id(field("data.path", &RunConfig::data, &DataConfig::path)),
      field("data.fingerprint", &RunConfig::data, &DataConfig::fingerprint),
      field("data.pad", &RunConfig::data, &DataConfig::pad, 0, 64),
      field("data.subset", &RunConfig::data, &DataConfig::subset, 0, 1e9),
      choice(field("data.subset_mode", &RunConfig::data, &DataConfig::subset_mode), fixed({"first", "random"})),
      field("data.test_subset", &RunConfig::data, &DataConfig::test_subset, 0, 1e9),
      field("data.normalize", &RunConfig::data, &DataConfig::normalize),
      field("data.synthetic_classes", &RunConfig::data, &DataConfig::synthetic_classes, 2, 1000),
      field("data.synthetic_size", &RunConfig::data, &DataConfig::synthetic_size, 4, 512),
      field("data.synthetic_train", &RunConfig::data, &DataConfig::synthetic_train, 1, 1e7),
      field("data.synthetic_test", &RunConfig::data, &DataConfig::synthetic_test, 1, 1e7),
      field("data.resolution", &RunConfig::data, &DataConfig::resolution, 0, 4096),
      choice(field("data.augment", &RunConfig::data, &DataConfig::augment), fixed({"center", "rrc_flip"})),
      field("data.skip_bad", &RunConfig::data, &DataConfig::skip_bad),
      // Other pixels when set (its id and store differ); later key: in ids only when set.
      field("data.jpeg_draft", &RunConfig::data, &DataConfig::jpeg_draft),
      // Other crops when set (its id and store differ); later key: in ids only when set.
      field("data.whole_images", &RunConfig::data, &DataConfig::whole_images),
      // Other pixels when "dit" (its id and store differ); later key: in ids only when set.
      choice(field("data.resize", &RunConfig::data, &DataConfig::resize), fixed({"bilinear", "dit"})),
      // Other crops when "files" (its id differs; the store is the same); later key: in ids only when set.
      choice(field("data.crops_from", &RunConfig::data, &DataConfig::crops_from), fixed({"store", "files"})),
      // Where the images live (memory or the store), not what they are: never in an id.
      not_in_id(field("data.resident_max_gb", &RunConfig::data, &DataConfig::resident_max_gb, 0, 1e6)),
  };
}

void check_data(const RunConfig& c, const Fail& fail) {
  if (c.data.whole_images && c.data.name != "image_folder")
    fail("data.whole_images",
         fmt::format("data.name = \"{}\" has no whole images to keep (its images are used at their own size): "
                     "data.whole_images applies to image_folder (ImageNet-style folders) only; set it only in the "
                     "rows or profiles that read one", c.data.name));
  if (c.data.resize != "bilinear" && c.data.name != "image_folder")
    fail("data.resize",
         fmt::format("data.name = \"{}\" is not resized from image files (its images come at one size): "
                     "data.resize applies to image_folder (ImageNet-style folders) only; set it only in the "
                     "rows or profiles that read one", c.data.name));
  if (c.data.resize == "dit" && c.data.jpeg_draft)
    fail("data.jpeg_draft",
         "data.resize = \"dit\" prepares the images as DiT's loader does, which decodes every JPEG whole; "
         "data.jpeg_draft decodes at a reduced DCT scale, so the pixels would not be DiT's: set one of them only");
  if (c.data.crops_from == "files" && !(c.data.name == "image_folder" && c.data.whole_images))
    fail("data.crops_from",
         c.data.name != "image_folder"
             ? fmt::format("data.name = \"{}\" has no image files to crop from: data.crops_from = \"files\" "
                           "applies to image_folder (ImageNet-style folders) only", c.data.name)
             : std::string("data.crops_from = \"files\" cuts the random resized crops of whole images from their "
                           "files: set data.whole_images = true with it (the store then keeps whole images for the "
                           "centre reads, and the crops come from the files)"));
  if (c.data.name == "image_folder" && (c.data.resolution <= 0 || c.data.pad != 0))
    fail(c.data.resolution <= 0 ? "data.resolution" : "data.pad",
         "image_folder images are resized to data.resolution on their shorter side (e.g. 256) and "
         "centre-cropped (or kept whole: data.whole_images), so it must be set, with data.pad = 0");
}

}  // namespace ldae
