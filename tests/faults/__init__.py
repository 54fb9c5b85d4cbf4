"""The fault suite (issue 8): crashes, outages, rebalances, hostile input, tenant isolation."""
