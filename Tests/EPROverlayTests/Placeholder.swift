import Testing

@Test func placeholder_EPROverlayTests() { #expect(Bool(true)) }
