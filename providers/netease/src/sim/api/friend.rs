//! friend/*: friend lists, requests (type 2), accept (3) and reject (4).

use serde_json::{json, Value};

use crate::sim::callbacks::events::{self, FriendNotice};
use crate::sim::model::FriendRequest;
use crate::sim::params::{NimError, NimResult, Params, Reply};
use crate::sim::world::{Call, World};
use crate::validate::{FRIEND_MSG_MAX, SERVEREX_MAX};

const ALIAS_MAX: usize = 128;
const FRIEND_EX_MAX: usize = 256;

/// The two accounts of a friend call, both existing and distinct.
fn pair(w: &World, p: &Params) -> NimResult<(String, String)> {
    let accid = p.accid("accid")?;
    let faccid = p.accid("faccid")?;
    if accid == faccid {
        return Err(NimError::param("faccid: cannot be accid itself"));
    }
    w.account(&accid, "accid")?;
    w.account(&faccid, "faccid")?;
    Ok((accid, faccid))
}

pub(super) fn add(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let kind: u8 = p
        .required("type")?
        .trim()
        .parse()
        .ok()
        .filter(|t| (1..=4).contains(t))
        .ok_or_else(|| NimError::param("type: must be 1, 2, 3 or 4"))?;
    let msg = p.optional_len("msg", FRIEND_MSG_MAX)?.filter(|m| !m.is_empty());
    let serverex = p.optional_len("serverex", SERVEREX_MAX)?.filter(|s| !s.is_empty());
    let (accid, faccid) = pair(w, p)?;
    match kind {
        // Add directly: friends both ways.
        1 => w.befriend(&accid, &faccid, serverex, call.now_ms),
        // A request: pending until faccid accepts or rejects it.
        2 => {
            if w.are_friends(&accid, &faccid) {
                return Ok(Reply::ok());
            }
            let request =
                FriendRequest { from: accid.clone(), to: faccid.clone(), msg: msg.map(str::to_owned), at: call.now_ms };
            w.requests.insert((faccid.clone(), accid.clone()), request);
        }
        // accid accepts or rejects the request faccid sent.
        _ => {
            let key = (accid.clone(), faccid.clone());
            if !w.requests.contains_key(&key) {
                return Err(NimError::not_found(format!("no pending friend request from {faccid} to {accid}")));
            }
            if kind == 3 {
                w.befriend(&accid, &faccid, serverex, call.now_ms);
            } else {
                w.requests.remove(&key);
            }
        }
    }
    notify(w, call, "FRIEND_ADD", &accid, &faccid, Some(kind), msg);
    call.persist = true;
    Ok(Reply::ok())
}

pub(super) fn update(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let alias = p.optional_len("alias", ALIAS_MAX)?;
    let ex = p.optional_len("ex", FRIEND_EX_MAX)?;
    let serverex = p.optional_len("serverex", SERVEREX_MAX)?;
    let (accid, faccid) = pair(w, p)?;
    let friend = w
        .friends
        .get_mut(&accid)
        .and_then(|l| l.get_mut(&faccid))
        .ok_or_else(|| NimError::not_found(format!("{faccid} is not a friend of {accid}")))?;
    for (field, value) in [(&mut friend.alias, alias), (&mut friend.ex, ex), (&mut friend.serverex, serverex)] {
        if let Some(v) = value {
            *field = Some(v.to_owned());
        }
    }
    friend.updatetime = call.now_ms;
    call.persist = true;
    Ok(Reply::ok())
}

/// Ends the friendship both ways; deleting a friendship that does not exist is a success.
pub(super) fn delete(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    p.optional_bool("isDeleteAlias")?;
    let (accid, faccid) = pair(w, p)?;
    if w.unfriend(&accid, &faccid) {
        notify(w, call, "FRIEND_DELETE", &accid, &faccid, None, None);
        call.persist = true;
    }
    Ok(Reply::ok())
}

/// Friends of `accid` changed at or after `updatetime` (ms).
pub(super) fn get(w: &mut World, p: &Params, _call: &mut Call<'_>) -> NimResult<Reply> {
    let accid = p.accid("accid")?;
    let since: u64 = p
        .required("updatetime")?
        .trim()
        .parse()
        .map_err(|_| NimError::param("updatetime: must be milliseconds since the epoch"))?;
    w.account(&accid, "accid")?;
    let friends: Vec<Value> = w
        .friends
        .get(&accid)
        .into_iter()
        .flat_map(|l| l.values())
        .filter(|f| f.updatetime >= since)
        .map(|f| {
            let mut v = json!({"faccid": f.faccid, "createtime": f.createtime, "updatetime": f.updatetime, "bidirection": true});
            for (key, value) in [("alias", &f.alias), ("ex", &f.ex), ("serverex", &f.serverex)] {
                if let Some(value) = value {
                    v[key] = json!(value);
                }
            }
            v
        })
        .collect();
    Ok(Reply::ok().with("size", json!(friends.len())).with("friends", Value::Array(friends)))
}

/// The friend system notification NetEase copies to the callback (convType CUSTOM_PERSON).
fn notify(
    w: &mut World,
    call: &mut Call<'_>,
    msg_type: &'static str,
    from: &str,
    to: &str,
    add_type: Option<u8>,
    msg: Option<&str>,
) {
    let msgid_server = w.new_msgid(call);
    let from_nick = w.nick(from);
    let notice =
        FriendNotice { msg_type, from, from_nick: &from_nick, to, add_type, msg, msgid_server, at: call.now_ms };
    call.callbacks.push(events::friend_notice(&notice));
}
