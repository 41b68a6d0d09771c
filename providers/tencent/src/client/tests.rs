//! The client against a fake Tencent (wiremock): envelope, errors, request shapes.
