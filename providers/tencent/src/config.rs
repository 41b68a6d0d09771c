//! How to reach one Tencent IM app: endpoint, SDKAppID, secret key, admin, timeouts, callback token, quotas.
