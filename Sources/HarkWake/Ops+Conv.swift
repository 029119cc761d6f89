import HarkKernels

/// Convolution, max pooling and batch normalisation over NCHW (and NCL) tensors.
extension Ops {
    /// Spatial geometry shared by Conv and MaxPool: kernel, strides, dilations and begin/end pads per axis.
    private struct Window {
        var kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int]
        /// The output's spatial size.
        var output: [Int] = []

        init(_ c: OpContext, spatial: [Int], kernel: [Int]) throws(OpError) {
            let spatialRank = spatial.count
            let autoPad = try c.string("auto_pad") ?? "NOTSET"
            guard autoPad == "NOTSET" || autoPad == "VALID" else {
                throw OpError(.unsupportedModel, "auto_pad=\(autoPad) is not supported (Hark takes explicit pads)")
            }
            self.kernel = kernel
            strides = try c.ints("strides") ?? Array(repeating: 1, count: spatialRank)
            dilations = try c.ints("dilations") ?? Array(repeating: 1, count: spatialRank)
            let pads = autoPad == "VALID" ? [] : (try c.ints("pads") ?? [])
            let all = pads.isEmpty ? Array(repeating: 0, count: 2 * spatialRank) : pads
            guard strides.count == spatialRank, dilations.count == spatialRank, all.count == 2 * spatialRank else {
                throw OpError(.invalidGraph, "strides, dilations or pads do not match \(spatialRank) spatial axes")
            }
            guard (strides + dilations + kernel).allSatisfy({ $0 >= 1 }), all.allSatisfy({ $0 >= 0 }) else {
                throw OpError(.invalidGraph, "kernel \(kernel), strides \(strides), dilations \(dilations) and pads \(all) must be positive")
            }
            padBegin = Array(all[..<spatialRank])
            padEnd = Array(all[spatialRank...])
            output = try outputSize(spatial)
        }

        /// Kernel, output, strides, dilations and begin pads as (H, W) pairs, H being 1 (0 for the pad)
        /// when there is one spatial axis (NCL).
        var planar: (kh: Int, kw: Int, oh: Int, ow: Int, sh: Int, sw: Int, dh: Int, dw: Int, ph: Int, pw: Int) {
            func pair(_ values: [Int], _ missing: Int) -> (Int, Int) { values.count == 1 ? (missing, values[0]) : (values[0], values[1]) }
            let (kh, kw) = pair(kernel, 1), (oh, ow) = pair(output, 1), (sh, sw) = pair(strides, 1)
            let (dh, dw) = pair(dilations, 1), (ph, pw) = pair(padBegin, 0)
            return (kh, kw, oh, ow, sh, sw, dh, dw, ph, pw)
        }

        func outputSize(_ input: [Int]) throws(OpError) -> [Int] {
            var result: [Int] = []
            for d in input.indices {
                let span = dilations[d] * (kernel[d] - 1) + 1
                let padded = input[d] + padBegin[d] + padEnd[d]
                guard padded >= span else { throw OpError(.shapeMismatch, "window \(kernel) does not fit input \(describe(input)) with pads") }
                result.append((padded - span) / strides[d] + 1)
            }
            return result
        }
    }

    /// Reads an NCHW or NCL input as (N, C, H, W) with H = 1 for one spatial axis.
    private static func planar(_ x: OnnxValue) throws(OpError) -> (n: Int, c: Int, h: Int, w: Int) {
        switch x.rank {
        case 3: return (x.shape[0], x.shape[1], 1, x.shape[2])
        case 4: return (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        default: throw OpError(.unsupportedModel, "input of rank \(x.rank) is not supported (Hark takes NCL or NCHW)")
        }
    }

    /// `Conv` (group 1) as im2col + GEMM: Y[Cout × OH·OW] = W[Cout × C·KH·KW] · cols[C·KH·KW × OH·OW] + B.
    static func conv(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        let x = try c.floatInput(0), w = try c.floatInput(1)
        let bias = c.optionalInput(2)
        guard try c.int("group", default: 1) == 1 else { throw OpError(.unsupportedModel, "grouped convolution is not supported") }
        let (batch, channels, height, width) = try planar(x)
        guard w.rank == x.rank, w.shape[1] == channels else {
            throw OpError(.shapeMismatch, "weights \(describe(w.shape)) do not fit input \(describe(x.shape))")
        }
        let kernel = Array(w.shape[2...])
        if let declared = try c.ints("kernel_shape"), declared != kernel {
            throw OpError(.shapeMismatch, "kernel_shape \(declared) does not match weights \(describe(w.shape))")
        }
        if let bias, bias.count != w.shape[0] || !bias.type.isFloat {
            throw OpError(.shapeMismatch, "bias \(describe(bias.shape)) does not fit \(w.shape[0]) output channels")
        }
        let window = try Window(c, spatial: x.rank == 3 ? [width] : [height, width], kernel: kernel)
        let outSpatial = window.output
        let (kh, kw, oh, ow, sh, sw, dh, dw, ph, pw) = window.planar
        let outChannels = w.shape[0]
        let rows = channels * kh * kw, columns = oh * ow
        _ = try elementCount([rows, columns])
        let out = try OnnxValue.checked(type: .float32, shape: [batch, outChannels] + outSpatial)
        let direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && window.padEnd.allSatisfy { $0 == 0 }
        let scratch = c.scratch
        if !direct { scratch.reserve(rows * columns) }
        // Sliding along H (time): an unpadded, unit-stride window keeps each output row a function of
        // the same input rows, so only the newest `step` output rows need computing.
        var tail: (() -> Void)?
        if let slide = x.slide, x.rank == 4, slide.axis == 2, batch == 1, sh == 1, dh == 1, ph == 0,
           window.padEnd[0] == 0, slide.step <= oh {
            let step = slide.step
            out.slide = slide
            tail = {
                out.shiftRows()
                let first = oh - step
                var source = UnsafePointer(x.f + first * width)
                var ldb = height * width
                if !direct {
                    im2col(x.f, channels: channels, height: height, width: width, kh: kh, kw: kw, oh: oh, ow: ow,
                           sh: sh, sw: sw, dh: dh, dw: dw, ph: ph, pw: pw, into: scratch.pointer, firstRow: first)
                    source = UnsafePointer(scratch.pointer)
                    ldb = step * ow
                }
                Sgemm.run(m: outChannels, n: step * ow, k: rows, a: w.f, lda: rows, b: source, ldb: ldb,
                          c: out.f + first * ow, ldc: columns, bias: bias.map { UnsafePointer($0.f) }, accumulate: false)
            }
        }
        return Planned([out], kernel: {
            for b in 0..<batch {
                let image = x.f + b * channels * height * width
                var source = UnsafePointer(image)
                if !direct {
                    let cols = scratch.pointer
                    im2col(image, channels: channels, height: height, width: width, kh: kh, kw: kw,
                           oh: oh, ow: ow, sh: sh, sw: sw, dh: dh, dw: dw, ph: ph, pw: pw, into: cols)
                    source = UnsafePointer(cols)
                }
                Sgemm.run(m: outChannels, n: columns, k: rows, a: w.f, lda: rows, b: source, ldb: columns,
                          c: out.f + b * outChannels * columns, ldc: columns, bias: bias.map { UnsafePointer($0.f) }, accumulate: false)
            }
        }, tail: tail)
    }

    /// cols[(c·KH + i)·KW + j][(oy − firstRow)·OW + ox] = x[c][oy·SH − PH + i·DH][ox·SW − PW + j·DW]
    /// (0 outside the image), for output rows oy in firstRow..<OH.
    private static func im2col(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kh: Int, kw: Int,
                               oh: Int, ow: Int, sh: Int, sw: Int, dh: Int, dw: Int, ph: Int, pw: Int,
                               into cols: UnsafeMutablePointer<Float>, firstRow: Int = 0) {
        var row = cols
        for ch in 0..<channels {
            let plane = x + ch * height * width
            for i in 0..<kh {
                for j in 0..<kw {
                    for oy in firstRow..<oh {
                        let y = oy * sh - ph + i * dh
                        let dst = row + (oy - firstRow) * ow
                        if y < 0 || y >= height {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        let line = plane + y * width
                        if sw == 1 {
                            // Contiguous run: zeros left of the image, a copy, zeros right of it.
                            let x0 = -pw + j * dw
                            let first = max(0, -x0), last = min(ow, width - x0)
                            if first > 0 { dst.update(repeating: 0, count: min(first, ow)) }
                            if last > first { (dst + first).update(from: line + x0 + first, count: last - first) }
                            if last < ow { (dst + max(last, first)).update(repeating: 0, count: ow - max(last, first)) }
                        } else {
                            for ox in 0..<ow {
                                let xx = ox * sw - pw + j * dw
                                dst[ox] = xx >= 0 && xx < width ? line[xx] : 0
                            }
                        }
                    }
                    row += (oh - firstRow) * ow
                }
            }
        }
    }

    static func maxPool(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"])
        guard try c.int("ceil_mode", default: 0) == 0 else { throw OpError(.unsupportedModel, "ceil_mode=1 is not supported") }
        guard try c.int("storage_order", default: 0) == 0 else { throw OpError(.unsupportedModel, "storage_order=1 is not supported") }
        guard c.node.output.count == 1 else { throw OpError(.unsupportedModel, "MaxPool's Indices output is not supported") }
        let x = try c.floatInput(0)
        let (batch, channels, height, width) = try planar(x)
        guard let kernel = try c.ints("kernel_shape"), kernel.count == x.rank - 2 else {
            throw OpError(.invalidGraph, "kernel_shape is missing or does not fit input \(describe(x.shape))")
        }
        let window = try Window(c, spatial: x.rank == 3 ? [width] : [height, width], kernel: kernel)
        let outSpatial = window.output
        let (kh, kw, oh, ow, sh, sw, dh, dw, ph, pw) = window.planar
        let out = try OnnxValue.checked(type: .float32, shape: [batch, channels] + outSpatial)
        let pool = { (firstRow: Int) in
            for plane in 0..<(batch * channels) {
                let src = x.f + plane * height * width, dst = out.f + plane * oh * ow
                for oy in firstRow..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity
                        for i in 0..<kh {
                            let y = oy * sh - ph + i * dh
                            guard y >= 0, y < height else { continue }
                            for j in 0..<kw {
                                let xx = ox * sw - pw + j * dw
                                guard xx >= 0, xx < width else { continue }
                                best = max(best, src[y * width + xx])
                            }
                        }
                        dst[oy * ow + ox] = best
                    }
                }
            }
        }
        // Sliding along H: unpadded windows whose stride divides the step move by step / stride rows.
        var tail: (() -> Void)?
        if let slide = x.slide, x.rank == 4, slide.axis == 2, ph == 0, window.padEnd[0] == 0,
           slide.step % sh == 0, slide.step / sh <= oh {
            out.slide = Slide(axis: 2, step: slide.step / sh)
            tail = {
                out.shiftRows()
                pool(oh - slide.step / sh)
            }
        }
        return Planned([out], kernel: { pool(0) }, tail: tail)
    }

    /// Inference-mode batch normalisation: y = (x − mean) / √(var + ε) · scale + B, per channel.
    static func batchNormalization(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["epsilon", "momentum", "training_mode", "spatial"])
        guard try c.int("training_mode", default: 0) == 0, c.node.output.count == 1 else {
            throw OpError(.unsupportedModel, "training mode is not supported")
        }
        try c.requireInputs(5...5)
        let x = try c.floatInput(0)
        let params = try (1...4).map { k throws(OpError) in try c.floatInput(k) }
        guard x.rank >= 2 else { throw OpError(.shapeMismatch, "input \(describe(x.shape)) has no channel axis") }
        let channels = x.shape[1]
        for p in params where p.count != channels {
            throw OpError(.shapeMismatch, "parameter \(describe(p.shape)) does not fit \(channels) channels")
        }
        let epsilon = try c.float("epsilon", default: 1e-5)
        let batch = x.shape[0], inner = x.shape[2...].reduce(1, *)
        let out = try OnnxValue.checked(type: .float32, shape: x.shape)
        let (scale, shift, mean, variance) = (params[0], params[1], params[2], params[3])
        // Per channel: y = (x − mean)·a + B with a = scale / √(var + ε), refreshed at each run
        // (the parameters are constants in practice, but need not be).
        let factors = try OnnxValue.checked(type: .float32, shape: [channels])
        let refresh = {
            for ch in 0..<channels { factors.f[ch] = scale.f[ch] / (variance.f[ch] + epsilon).squareRoot() }
        }
        @inline(__always) func normalize(_ k: Int, channel ch: Int) {
            out.f[k] = (x.f[k] - mean.f[ch]) * factors.f[ch] + shift.f[ch]
        }
        var tail: (() -> Void)?
        if let slide = x.slide, slide.axis >= 2 {
            out.slide = slide
            let planeSize = x.shape[2...].reduce(1, *)
            tail = {
                refresh()
                out.shiftRows()
                out.forEachNewRange { start, count in
                    let ch = (start / planeSize) % channels
                    for k in start..<(start + count) { normalize(k, channel: ch) }
                }
            }
        }
        return Planned([out], kernel: {
            refresh()
            for b in 0..<batch {
                for ch in 0..<channels {
                    let base = (b * channels + ch) * inner
                    for k in 0..<inner { normalize(base + k, channel: ch) }
                }
            }
        }, tail: tail)
    }
}
