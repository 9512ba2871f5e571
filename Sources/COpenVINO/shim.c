// Intentionally empty: SwiftPM needs one source file to build this C target.
#include "COpenVINO.h"
