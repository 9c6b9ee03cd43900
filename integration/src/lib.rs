//! A simulated FreeSWITCH speaking the real Event Socket protocol, plus scenario and load drivers.
