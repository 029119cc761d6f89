import CCurl

/// One blocking HTTP POST through libcurl's easy interface, for the Home Assistant transport. Call
/// it from a thread that may block (not from Swift's cooperative pool): it returns when the answer
/// is in or after `timeout` seconds.
enum HTTPExchange {
    struct Response: Sendable {
        let status: Int
        /// The start of the body, at most `HomeAssistantTransport.bodyLimit` bytes.
        let body: [UInt8]
    }

    /// POSTs `json` to `url` with a bearer token. A status other than 2xx is a response, not an
    /// error; failing to get any answer (no connection, timeout, TLS) is a `DeviceError`.
    static func post(url: String, json: String, bearer token: String, timeout: Double, what: String) throws(DeviceError) -> Response {
        // Declared before the handle so they outlive it (defers run in reverse).
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }
        for header in ["Authorization: Bearer \(token)", "Content-Type: application/json", "Accept: application/json"] {
            guard let list = curl_slist_append(headers, header) else {
                throw DeviceError(.transport, "\(what): libcurl cannot build the request headers (out of memory?)")
            }
            headers = list
        }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        defer { errorBuffer.deallocate() }
        let sink = BodySink()
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()

        guard let handle = curl_easy_init() else {
            throw DeviceError(.transport, "\(what): libcurl cannot make a request handle (out of memory?)")
        }
        defer { curl_easy_cleanup(handle) }
        let milliseconds = max(1, Int((timeout * 1000).rounded()))

        func set(_ option: CURLoption, _ code: CURLcode) throws(DeviceError) {
            guard code == CURLE_OK else {
                throw DeviceError(.transport, "\(what): libcurl refused option \(option.rawValue)", cause: String(cString: curl_easy_strerror(code)))
            }
        }
        // No signals from libcurl: it runs on a thread among others (required for multi-threaded use).
        try set(CURLOPT_NOSIGNAL, hark_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try set(CURLOPT_URL, hark_curl_setopt_ptr(handle, CURLOPT_URL, url))
        try set(CURLOPT_POST, hark_curl_setopt_long(handle, CURLOPT_POST, 1))
        try set(CURLOPT_POSTFIELDSIZE, hark_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, json.utf8.count))
        try set(CURLOPT_COPYPOSTFIELDS, hark_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, json))
        try set(CURLOPT_HTTPHEADER, hark_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headers))
        try set(CURLOPT_CONNECTTIMEOUT_MS, hark_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds))
        try set(CURLOPT_TIMEOUT_MS, hark_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds))
        // The token goes to the configured host and nowhere else: no redirects, no proxy from the environment.
        try set(CURLOPT_FOLLOWLOCATION, hark_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        try set(CURLOPT_PROXY, hark_curl_setopt_ptr(handle, CURLOPT_PROXY, ""))
        // libcurl 7.85 and later; the URL is already checked to be http(s) where this is missing.
        _ = hark_curl_setopt_ptr(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        try set(CURLOPT_USERAGENT, hark_curl_setopt_ptr(handle, CURLOPT_USERAGENT, "hark"))
        try set(CURLOPT_ERRORBUFFER, hark_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        try set(CURLOPT_WRITEDATA, hark_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, sinkPointer))
        try set(CURLOPT_WRITEFUNCTION, hark_curl_setopt_write(handle) { data, size, count, user in
            let bytes = size * count
            let sink = Unmanaged<BodySink>.fromOpaque(user!).takeUnretainedValue()
            let room = HomeAssistantTransport.bodyLimit - sink.bytes.count
            if room > 0, let data {
                data.withMemoryRebound(to: UInt8.self, capacity: bytes) { sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: min(bytes, room))) }
            }
            // Everything is accepted (and the excess dropped): a smaller count would abort the transfer.
            return bytes
        })

        let code = withExtendedLifetime(sink) { curl_easy_perform(handle) }
        guard code == CURLE_OK else {
            let detail = errorBuffer.pointee != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            let seconds = JSONValue.formatNumber(timeout)
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                throw DeviceError(.transport, "\(what): Home Assistant did not answer POST \(url) within \(seconds) s; is it running and reachable? (raise transport.timeout if it is slow)", cause: detail)
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
                throw DeviceError(.transport, "\(what): cannot reach Home Assistant for POST \(url); check transport.url and that Home Assistant is running", cause: detail)
            default:
                throw DeviceError(.transport, "\(what): POST \(url) failed before an answer came", cause: detail)
            }
        }
        var status = 0
        let info = hark_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        guard info == CURLE_OK else {
            throw DeviceError(.transport, "\(what): POST \(url) got an answer whose status libcurl cannot give", cause: String(cString: curl_easy_strerror(info)))
        }
        return Response(status: status, body: sink.bytes)
    }

    /// Collects the response body; used by one transfer on one thread.
    private final class BodySink {
        var bytes: [UInt8] = []
    }
}
