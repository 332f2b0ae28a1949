package odata

import (
	"net/url"
	"regexp"
	"strings"
)

// The two services coupler is built for differ in ways a client must meet
// (their $batch format, which filters they take). An odata connector tells
// them by the service root's URL, as their documentation writes it, so
// that their documented URLs need no extra setting.

// dataverseRoot matches the path of the Dataverse Web API's service root,
// /api/data/v9.2 ("Use the Microsoft Dataverse Web API": the Web API
// endpoint is [Organization URI]/api/data/v9.2/).
var dataverseRoot = regexp.MustCompile(`(?i)/api/data/v[0-9]+(\.[0-9]+)*$`)

// isDataverse reports whether base is the Dataverse Web API's service root.
func isDataverse(base *url.URL) bool {
	return dataverseRoot.MatchString(base.Path)
}

// isBusinessCentral reports whether the service root is Business
// Central's, whose $filter allows or only between filters on one field.
// It is recognised by the shapes of the URLs its documentation gives:
// the host api.businesscentral.dynamics.com (online), or a path with the
// standard API "api/v2.0" (any version vN.N right after a segment "api"),
// a custom API "api/{publisher}/{group}/vN.N", or the web services'
// "ODataV4". Dataverse's "api/data/v9.2" has one segment between "api"
// and the version, and is not taken for it. A service taken for Business
// Central only has fewer filters pushed down, never a wrong answer.
func isBusinessCentral(base *url.URL) bool {
	if strings.EqualFold(base.Hostname(), "api.businesscentral.dynamics.com") {
		return true
	}
	segs := strings.Split(strings.Trim(base.Path, "/"), "/")
	for i, s := range segs {
		if strings.EqualFold(s, "ODataV4") {
			return true
		}
		if !strings.EqualFold(s, "api") {
			continue
		}
		for _, j := range []int{i + 1, i + 3} {
			if j < len(segs) && apiVersionRE.MatchString(segs[j]) {
				return true
			}
		}
	}
	return false
}

// apiVersionRE matches an API version segment such as v2.0.
var apiVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
