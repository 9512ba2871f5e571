import Testing

@Test func placeholder_EPRStreamTests() { #expect(Bool(true)) }
