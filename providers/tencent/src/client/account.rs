//! Accounts (`im_open_login_svc`), profile (`profile/portrait_set`) and online status.
