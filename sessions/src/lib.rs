//! The call controller: one state machine per FreeSWITCH call, driven by ESL events and the rater.
