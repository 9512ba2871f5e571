import EPRCore
import Foundation

/// A report file named by `--json` is checked before the work that fills it, so a typo in its
/// directory fails at once instead of after minutes of evaluation or benchmarking.
enum ReportPath {
    static func checkWritable(_ path: String) throws(EPRError) {
        let directory = (path as NSString).deletingLastPathComponent
        let parent = directory.isEmpty ? "." : directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EPRError(.output, "cannot write \(path): there is no directory \(parent)")
        }
        guard access(parent, W_OK) == 0 else {
            throw EPRError(.output, "cannot write \(path): the directory \(parent) is not writable")
        }
    }
}
