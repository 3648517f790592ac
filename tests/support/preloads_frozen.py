"""The fork server's last preload (tests/support/warm_start.py): what it imported goes out of the
garbage collector's reach, as it does in a process Parley starts (bot/campaigns/collector.py).

Each warm child's freeze_start_up() then collects only what the child built (about 5 ms of CPU)
instead of the ~116 000 objects of the preloaded modules again (about 70 ms), and no full
collection during its start-up scans them either. Importing this freezes the importing process:
only the fork server imports it. Not freeze_start_up() itself: its children would inherit "frozen
for good", and a warm short command (a campaign sent from `bot`) would then skip the freeze of
its run that a cold one makes.
"""

import gc

gc.collect()
gc.freeze()
