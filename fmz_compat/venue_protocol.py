"""What the venue server (fmz_compat/sim/server.py) and its nodes' client (fmz_compat/remote.py) agree on,
kept apart from both so a node does not import the simulator to talk to it."""

from __future__ import annotations

import re

NODE_HEADER = "X-Node"  # the HTTP header naming the node a request comes from
NODE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
