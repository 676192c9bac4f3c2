/* A shared library without the ldae_plugin entry point. */
int some_other_function(void) { return 42; }
