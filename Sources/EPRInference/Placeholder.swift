import COpenVINO
import CFFmpeg
