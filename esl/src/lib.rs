//! FreeSWITCH Event Socket protocol: frames, codec and clients. Knows nothing of billing.
