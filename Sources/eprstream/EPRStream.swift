import ArgumentParser

@main
struct EPRStream: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eprstream",
        abstract: "Real-time street-scene segmentation of video with EPRNet.",
        subcommands: [
            RunCommand.self,
            ServeCommand.self,
            EvalCommand.self,
            BenchCommand.self,
            InspectCommand.self,
        ]
    )
}
