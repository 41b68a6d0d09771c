//! A simulator of Tencent IM's server, for tests, `imbridge simulate --provider tencent` and sandbox mode.
