"""The backup function: a backup code shown once, one-time codes sent by email, and the
restore / duplicate flows that need both to put an ID on a new device."""
