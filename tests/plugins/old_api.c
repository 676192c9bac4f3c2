/* A plugin built for another API version: the host must refuse it before
   calling anything. Plain C, like the entry point's contract. */
struct Info {
  int api_version;
  const char* name;
  const char* version;
  const char* description;
  void (*register_fn)(void*);
};
static const struct Info info = {0, "old", "0", "built for API 0", 0};
const struct Info* ldae_plugin(void) { return &info; }
