"""Validates Stadtpuls' ParkAPI v3 output with parkapi-sources' own validators.

Usage: parkapi_validate.py LIST.json ITEM.json

LIST.json is the body of GET /v1/cities/{city}/parkapi/parking-sites, ITEM.json that of
one /parking-sites/{id}. Every site must pass `CombinedParkingSiteInput` (the static and
realtime inputs ParkAPI's converters produce) and, split as parkapi-sources splits them,
`StaticParkingSiteInput` and `RealtimeParkingSiteInput` (the latter only for sites with
realtime data). Prints one line per site: uid, free, capacity, realtime time in UTC.
Exits non-zero with the validator's message on the first refusal.
"""

import json
import sys

from validataclass.validators import DataclassValidator
from parkapi_sources.models import (
    CombinedParkingSiteInput,
    RealtimeParkingSiteInput,
    StaticParkingSiteInput,
)

combined = DataclassValidator(CombinedParkingSiteInput)
static = DataclassValidator(StaticParkingSiteInput)
realtime = DataclassValidator(RealtimeParkingSiteInput)

with open(sys.argv[1]) as f:
    listing = json.load(f)
with open(sys.argv[2]) as f:
    item = json.load(f)

assert set(listing) == {"items"}, f"list keys {sorted(listing)}"
for site in listing["items"] + [item]:
    parsed = combined.validate(site)
    static.validate({k: v for k, v in site.items() if not k.startswith("realtime_")})
    if site["has_realtime_data"]:
        realtime.validate({k: v for k, v in site.items() if k == "uid" or k.startswith("realtime_")})
    updated = parsed.realtime_data_updated_at.isoformat() if parsed.realtime_data_updated_at else "-"
    print(parsed.uid, parsed.realtime_free_capacity, parsed.capacity,
          parsed.realtime_opening_status.value if parsed.realtime_opening_status else "-", updated)
