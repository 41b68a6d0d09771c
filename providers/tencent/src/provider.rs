//! [`imbridge_provider::ImProvider`] for Tencent IM.
