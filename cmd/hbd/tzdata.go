package main

// The IANA time zone database, built in (about 450 kB): maintenance
// windows name their zone ([[maintenance]] timezone, the API's
// "timezone"), and a daemon on a bare container image without
// /usr/share/zoneinfo must read them as the same windows as one on a full
// system. Go uses the system's database when it has one, so an updated
// tzdata package still takes effect.
import _ "time/tzdata"
