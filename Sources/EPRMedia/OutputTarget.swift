import Foundation

/// What an output path names on disk, looked at before anything is opened for writing.
public enum OutputTarget {
    /// True when `output` and `input` are one file: the same path, a symlink to it or a hard
    /// link (same device and inode). Writing there would destroy the input.
    public static func isSameFile(_ output: String, as input: String) -> Bool {
        var out = stat(), inp = stat()
        guard stat(output, &out) == 0, stat(input, &inp) == 0 else { return false }
        return out.st_dev == inp.st_dev && out.st_ino == inp.st_ino
    }

    /// `-` (stdout) or an existing file that is neither regular nor a directory (a FIFO, a
    /// device such as /dev/null, a socket): written in place as a stream, never renamed over.
    public static func isStream(_ path: String) -> Bool {
        if path == "-" { return true }
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        let type = st.st_mode & S_IFMT
        return type != S_IFREG && type != S_IFDIR
    }

    /// The name FFmpeg opens for `path` (`-` is stdout).
    static func ioName(_ path: String) -> String { path == "-" ? "pipe:1" : path }

    /// The temporary name a run writes `target` under until it is complete.
    static func partialName(for target: URL) -> String {
        target.deletingLastPathComponent().path + "/" + partialPrefix(target.lastPathComponent)
            + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Removes the `.NAME.partial-PID-N` files beside `target` whose process is gone (a crash or
    /// SIGKILL left them); those of running processes stay.
    static func removeStalePartials(of target: URL) {
        let dir = target.deletingLastPathComponent().path
        let prefix = partialPrefix(target.lastPathComponent)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count).split(separator: "-")
            guard rest.count == 2, let pid = pid_t(rest[0]), pid > 0, UInt32(rest[1]) != nil else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    private static func partialPrefix(_ name: String) -> String { "." + name + ".partial-" }
}
