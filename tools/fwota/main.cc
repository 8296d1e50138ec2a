// fwota: the command line over a data directory. See cli.h.
#include "tools/fwota/cli.h"

int main(int argc, char** argv) { return fwota::cli::Main(argc, argv); }
