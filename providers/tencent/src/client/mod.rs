//! A typed client of Tencent IM's server REST API (`/v4/{service}/{command}`).
