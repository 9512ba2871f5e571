import Testing

@Test func placeholder_EPRPipelineTests() { #expect(Bool(true)) }
