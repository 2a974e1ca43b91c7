#include "app/cli.h"

int main(int argc, char** argv) { return sg::app::runCli(argc, argv); }
