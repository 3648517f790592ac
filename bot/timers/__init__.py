"""The clock process: one scheduler resuming conversations when their timers come due."""
