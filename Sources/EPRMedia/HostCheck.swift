import Foundation

/// Tells an unknown host apart from other network failures: FFmpeg reports a name that does not
/// resolve as a bare "Input/output error".
enum HostCheck {
    /// "host 'x' could not be resolved (...)" when `url` names a host the resolver does not know;
    /// nil when it resolves, is a numeric address, or `url` names no host.
    static func unresolvable(url: String) -> String? {
        guard let host = URLComponents(string: url)?.host, !host.isEmpty else { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        guard status != 0 else { return nil }
        return "host '\(host)' could not be resolved (\(String(cString: gai_strerror(status))))"
    }
}
