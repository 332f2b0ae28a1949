// Business Central's refusals that a CDS model alone cannot express, so
// that CAP refuses what Business Central's API v2.0 refuses:
//
//   - Entity sets only below a company: "all resources live in the context
//     of a parent company, so the company ID must be provided in the URL
//     for all resource API calls" (Tips for working with the APIs). A
//     request for …/api/v2.0/customers is answered 404 with Business
//     Central's code BadRequest_NotFound (Error codes).
//   - $filter functions: "Using filter expressions in OData URIs" lists
//     comparisons, and/or/not, in, and the string functions contains,
//     startswith and endswith; tolower, toupper and trim are refused (400).
//   - "You can't use OR operators to apply filters on two different
//     fields" (same page): such a $filter is refused (400).
//
// If-Match on PATCH and DELETE needs no code here: CAP answers 428 without
// it on entities with an @odata.etag, as Business Central requires it
// (Update customers, Delete customers: If-Match Required).
const cds = require('@sap/cds')

const refusedFunctions = ['tolower', 'toupper', 'trim']

module.exports = class BusinessCentral extends cds.ApplicationService {
  init() {
    this.before('*', req => {
      if (!req.target || req.target.name === 'BusinessCentral.companies') return
      if (!String(req.path).startsWith('BusinessCentral.companies/')) {
        const set = req.target.name.replace(/^BusinessCentral\./, '')
        return req.reject({ status: 404, code: 'BadRequest_NotFound', message: `Resource not found for the segment '${set}'.` })
      }
    })
    this.before('READ', req => {
      const where = req.query?.SELECT?.where
      if (!where) return
      const fn = usedFunction(where)
      if (fn) {
        return req.reject({ status: 400, code: 'BadRequest', message: `The function '${fn}' is not supported: Business Central's OData filters are comparisons, contains, startswith and endswith (Using filter expressions in OData URIs)` })
      }
      const fields = orAcrossFields(where)
      if (fields) {
        return req.reject({ status: 400, code: 'BadRequest', message: `or joins filters on ${fields} different fields; Business Central allows or only between filters on the same field (Using filter expressions in OData URIs)` })
      }
    })
    return super.init()
  }
}

// usedFunction returns the first refused function an expression calls.
function usedFunction(x) {
  if (Array.isArray(x)) {
    for (const each of x) {
      const fn = usedFunction(each)
      if (fn) return fn
    }
    return undefined
  }
  if (x && typeof x === 'object') {
    if (x.func && refusedFunctions.includes(x.func.toLowerCase())) return x.func
    return usedFunction(x.args) || usedFunction(x.xpr)
  }
  return undefined
}

// orAcrossFields returns how many fields the operands of an or read, when
// more than one, at any level of the token list tokens (CQN: or binds
// weakest, so an or's operands are its whole list).
function orAcrossFields(tokens) {
  if (tokens.includes('or')) {
    const fields = new Set()
    collectFields(tokens, fields)
    if (fields.size > 1) return fields.size
  }
  for (const t of tokens) {
    if (t && Array.isArray(t.xpr)) {
      const n = orAcrossFields(t.xpr)
      if (n) return n
    }
  }
  return 0
}

function collectFields(x, into) {
  if (Array.isArray(x)) return x.forEach(each => collectFields(each, into))
  if (!x || typeof x !== 'object') return
  if (x.ref) into.add(x.ref.join('.'))
  collectFields(x.args, into)
  collectFields(x.xpr, into)
}
