#![doc = include_str!("../README.md")]

mod body;
mod client_ip;
mod clock;
mod problem;

pub use self::{
    body::ResponseBody,
    client_ip::{
        ClientIp, ClientIpSource, TrustedProxies, TrustedProxiesError, normalize_ip, peer_addr,
    },
    clock::{Clock, ManualClock, SystemClock},
    problem::{PROBLEM_JSON, Problem},
};
