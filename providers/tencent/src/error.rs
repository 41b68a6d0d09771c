//! Tencent REST errors: the envelope's ErrorCode and what it means to the bridge (retryable or not).
