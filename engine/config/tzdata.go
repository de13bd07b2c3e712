package config

// Time zone names in pipeline and trigger files are checked against the
// IANA database embedded in the binary, so that lint gives the same answer
// on every machine, including containers without /usr/share/zoneinfo.
import _ "time/tzdata"
