import Testing

@Test func placeholder_EPRInferenceTests() { #expect(Bool(true)) }
