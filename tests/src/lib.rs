//! Helpers shared by the integration tests: where the real services are, and
//! whether a test may skip when one is missing.
