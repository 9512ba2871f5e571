import Testing

@Test func placeholder_EPRMediaTests() { #expect(Bool(true)) }
