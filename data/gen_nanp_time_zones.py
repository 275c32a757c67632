"""Regenerates nanp_time_zones.tsv from libphonenumber's time zone map.

Usage: pip install phonenumbers && python3 data/gen_nanp_time_zones.py > data/nanp_time_zones.tsv
"""

import phonenumbers
from phonenumbers.tzdata import TIMEZONE_DATA

codes = {}
for prefix, zones in TIMEZONE_DATA.items():
    if prefix.startswith("1") and len(prefix) >= 4:
        codes.setdefault(prefix[1:4], set()).update(zones)

print(f"""# North American area code -> IANA time zone(s) it covers, one area code a line.
# Derived from libphonenumber's resources/timezones/map_data.txt (Apache License 2.0), as
# packaged in the Python `phonenumbers` {phonenumbers.__version__} (phonenumbers.tzdata), by taking for
# each +1 NPA every zone listed under it or under any longer prefix inside it.
# An area code that spans zones lists them all: quiet hours then hold while it is quiet in any.
# Regenerate: pip install phonenumbers && python3 data/gen_nanp_time_zones.py""")
for code in sorted(codes):
    print(code + "\t" + ",".join(sorted(codes[code])))
