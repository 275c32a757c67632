"""Reads a running gateway's Open311 endpoint with georeport, a real Open311 GeoReport v2 client
from PyPI, in both of the formats it speaks. Run by tests/open311.rs:

    python tests/open311_client.py BASE_URL CODE STATUS NOTE

Checks that the services list holds the shipped flow's pothole service, that its definition has
attributes, and that request CODE (filed by text) reads back with STATUS and NOTE, alone and in
the list of requests in that status. Prints what it read; exits non-zero on any mismatch.
"""

import sys

from georeport import GeoReport


def main() -> None:
    base, code, status, note = sys.argv[1:5]
    for fmt in ("json", "xml"):
        client = GeoReport(base, output_format=fmt)

        services = client.get_service_list()
        codes = [s["service_code"] for s in services]
        assert "pothole" in codes, f"{fmt}: services {codes}"
        pothole = next(s for s in services if s["service_code"] == "pothole")
        assert pothole["service_name"] == "Pothole", pothole

        definition = client.get_service_definition("pothole")
        attributes = definition["attributes"]
        if fmt == "xml":
            attributes = attributes["attribute"]
        where = next(a for a in attributes if a["code"] == "where")
        assert str(where["required"]).lower() == "true", where

        request = client.get_service_request(code)
        assert request["service_request_id"] == code, request
        assert request["status"] == status, request
        assert request["status_notes"] == note, request
        assert request["service_code"] == "pothole", request

        listed = client.get_service_requests(status=status)
        if isinstance(listed, dict):  # xmltodict gives a lone element as a dict
            listed = [listed]
        assert code in [r["service_request_id"] for r in listed], listed

        print(
            f"{fmt}: {len(services)} services; pothole has {len(attributes)} attributes; "
            f"request {code} is {request['status']}: {request['status_notes']}"
        )


if __name__ == "__main__":
    main()
