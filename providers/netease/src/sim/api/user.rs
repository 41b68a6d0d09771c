//! user/*: accounts, tokens, profiles, blocking.

use serde_json::{json, Map, Value};

use crate::sim::model::Account;
use crate::sim::params::{list_accid, NimError, NimResult, Params, Reply};
use crate::sim::world::{Call, World};
use crate::validate::{
    self, BIRTH_MAX, EMAIL_MAX, EX_MAX, GETUINFOS_MAX, ICON_MAX, MOBILE_MAX, NAME_MAX, SIGN_MAX, TOKEN_MAX,
};

/// The profile fields user/create and user/updateUinfo accept; `None` leaves a field alone.
#[derive(Default)]
struct Profile {
    name: Option<String>,
    icon: Option<String>,
    sign: Option<String>,
    email: Option<String>,
    birth: Option<String>,
    mobile: Option<String>,
    gender: Option<u8>,
    ex: Option<String>,
}

impl Profile {
    fn parse(p: &Params) -> NimResult<Self> {
        let text = |name: &str, max: usize| p.optional_len(name, max).map(|v| v.map(str::to_owned));
        let gender = p
            .optional_num::<i64>("gender")?
            .map(|g| u8::try_from(g).map_err(|_| NimError::param("gender: must be 0, 1 or 2")))
            .transpose()?;
        if let Some(g) = gender {
            validate::check_gender("gender", g)?;
        }
        Ok(Self {
            name: text("name", NAME_MAX)?,
            icon: p.optional_bytes("icon", ICON_MAX)?.map(str::to_owned),
            sign: text("sign", SIGN_MAX)?,
            email: text("email", EMAIL_MAX)?,
            birth: text("birth", BIRTH_MAX)?,
            mobile: text("mobile", MOBILE_MAX)?,
            gender,
            ex: text("ex", EX_MAX)?,
        })
    }

    fn apply(self, a: &mut Account) {
        let set = |field: &mut Option<String>, value: Option<String>| {
            if value.is_some() {
                *field = value;
            }
        };
        set(&mut a.name, self.name);
        set(&mut a.icon, self.icon);
        set(&mut a.sign, self.sign);
        set(&mut a.email, self.email);
        set(&mut a.birth, self.birth);
        set(&mut a.mobile, self.mobile);
        set(&mut a.ex, self.ex);
        if self.gender.is_some() {
            a.gender = self.gender;
        }
    }
}

/// A NetEase-style token: 32 lowercase hex characters.
fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(super) fn create(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let accid = p.accid("accid")?;
    let profile = Profile::parse(p)?;
    let token = p.optional_len("token", TOKEN_MAX)?.filter(|t| !t.is_empty()).map_or_else(new_token, str::to_owned);
    if w.accounts.contains_key(&accid) {
        return Err(NimError::param("already register"));
    }
    let mut account = Account {
        accid: accid.clone(),
        token,
        name: None,
        icon: None,
        sign: None,
        email: None,
        birth: None,
        mobile: None,
        gender: None,
        ex: None,
        blocked: false,
        created_at: call.now_ms,
        updated_at: call.now_ms,
    };
    profile.apply(&mut account);
    let info =
        json!({"accid": account.accid, "token": account.token, "name": account.name.clone().unwrap_or_default()});
    w.accounts.insert(accid, account);
    call.persist = true;
    Ok(Reply::ok().with("info", info))
}

/// Sets a token of the caller's choosing.
pub(super) fn update(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let accid = p.accid("accid")?;
    let token = p.required_len("token", TOKEN_MAX)?;
    let account = w.account_mut(&accid, "accid")?;
    account.token = token.to_owned();
    account.updated_at = call.now_ms;
    call.persist = true;
    Ok(Reply::ok())
}

/// Issues a new token; the old one stops logging in.
pub(super) fn refresh_token(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let accid = p.accid("accid")?;
    let account = w.account_mut(&accid, "accid")?;
    account.token = new_token();
    account.updated_at = call.now_ms;
    let info = json!({"accid": account.accid, "token": account.token});
    call.persist = true;
    Ok(Reply::ok().with("info", info))
}

pub(super) fn update_uinfo(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let accid = p.accid("accid")?;
    let profile = Profile::parse(p)?;
    let account = w.account_mut(&accid, "accid")?;
    profile.apply(account);
    account.updated_at = call.now_ms;
    call.persist = true;
    Ok(Reply::ok())
}

/// Profiles of up to 200 accounts; unknown accids are left out.
pub(super) fn get_uinfos(w: &mut World, p: &Params, _call: &mut Call<'_>) -> NimResult<Reply> {
    let over = NimError::param(format!("accids: at most {GETUINFOS_MAX} accids"));
    let accids = p.string_list("accids", GETUINFOS_MAX, over)?;
    let uinfos: Vec<Value> =
        accids.iter().filter_map(|raw| list_accid(raw)).filter_map(|accid| w.accounts.get(&accid)).map(uinfo).collect();
    Ok(Reply::ok().with("uinfos", Value::Array(uinfos)))
}

fn uinfo(a: &Account) -> Value {
    let mut info = Map::new();
    info.insert("accid".to_owned(), json!(a.accid));
    let texts = [("name", &a.name), ("icon", &a.icon), ("sign", &a.sign), ("email", &a.email)];
    let more = [("birth", &a.birth), ("mobile", &a.mobile), ("ex", &a.ex)];
    for (key, value) in texts.into_iter().chain(more) {
        if let Some(v) = value {
            info.insert(key.to_owned(), json!(v));
        }
    }
    if let Some(g) = a.gender {
        info.insert("gender".to_owned(), json!(g));
    }
    // Blocking makes an account invalid; the simulator has no mute API, so nobody is muted.
    info.insert("valid".to_owned(), json!(!a.blocked));
    info.insert("mute".to_owned(), json!(false));
    Value::Object(info)
}

pub(super) fn block(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    set_blocked(w, p, call, true)
}

pub(super) fn unblock(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    set_blocked(w, p, call, false)
}

fn set_blocked(w: &mut World, p: &Params, call: &mut Call<'_>, blocked: bool) -> NimResult<Reply> {
    let accid = p.accid("accid")?;
    // needkick only matters to connected clients, which the simulator does not hold; checked anyway.
    p.optional_bool("needkick")?;
    let account = w.account_mut(&accid, "accid")?;
    account.blocked = blocked;
    account.updated_at = call.now_ms;
    call.persist = true;
    Ok(Reply::ok())
}
