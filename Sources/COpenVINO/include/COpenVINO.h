// OpenVINO C API (headers from the openvino wheel, linked into .openvino/include by setup).
#pragma once
#include <openvino/c/openvino.h>
