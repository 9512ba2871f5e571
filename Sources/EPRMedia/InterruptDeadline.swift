import CFFmpeg

/// Bounds blocking FFmpeg calls on network sources and sinks: armed with a timeout before each
/// call, it makes FFmpeg's interrupt callback abort the call once the timeout has passed (a
/// frozen server), or at once after `abort()` (stop requested). Any thread may arm or abort.
public final class InterruptDeadline: @unchecked Sendable {
    let state: UnsafeMutablePointer<cff_interrupt_state>
    /// How long one blocking call may take.
    public let timeout: Double

    public init(timeout: Double) {
        self.timeout = timeout
        state = .allocate(capacity: 1)
        state.initialize(to: cff_interrupt_state(deadline_us: 0, abort: 0, fired: 0))
    }

    deinit { state.deallocate() }

    /// Starts the clock for the next blocking call.
    public func arm() { cff_interrupt_arm(state, Int64(timeout * 1_000_000)) }
    public func disarm() { cff_interrupt_arm(state, 0) }
    /// Makes every current and future call on this deadline return at once.
    public func abort() { cff_interrupt_set_abort(state, 1) }
    public var isAborted: Bool { cff_interrupt_aborted(state) != 0 }
    /// True when the last armed call was cut off because the timeout passed.
    public var fired: Bool { cff_interrupt_fired(state) != 0 }

    func install(on context: UnsafeMutablePointer<AVFormatContext>) { cff_interrupt_install(context, state) }
    var callback: AVIOInterruptCB { cff_interrupt_cb(state) }
}
