"""IceRiver family (KS0…KS5M Kaspa miners: the web user panel's JSON on HTTP port 80, behind
a session-cookie login)."""
