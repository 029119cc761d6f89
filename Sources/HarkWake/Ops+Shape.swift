/// Operators that move data without arithmetic: views, copies through an index map, concatenation.
extension Ops {
    static func constant(_ c: OpContext) throws(OpError) -> Planned {
        try c.requireInputs(0...0)
        if let tensor = try c.tensor("value") {
            return Planned([try OnnxValue.constant(from: tensor)], kernel: nil)
        }
        if c.has("value_float") {
            let value = OnnxValue(type: .float32, shape: [], constant: true)
            value.f[0] = try c.float("value_float", default: 0)
            return Planned([value], kernel: nil)
        }
        if c.has("value_int") {
            let value = OnnxValue(type: .int64, shape: [], constant: true)
            value.i[0] = Int64(try c.int("value_int"))
            return Planned([value], kernel: nil)
        }
        if let ints = try c.ints("value_ints") {
            let value = OnnxValue(type: .int64, shape: [ints.count], constant: true)
            for (k, v) in ints.enumerated() { value.i[k] = Int64(v) }
            return Planned([value], kernel: nil)
        }
        throw OpError(.unsupportedModel, "Constant without a 'value', 'value_float', 'value_int' or 'value_ints' attribute")
    }

    /// A view of input 0 with another shape of the same element count (no copy, no kernel).
    static func reshape(_ c: OpContext, to shape: [Int]) throws(OpError) -> Planned {
        let x = try c.input(0)
        guard try elementCount(shape) == x.count else {
            throw OpError(.shapeMismatch, "cannot view \(describe(x.shape)) as \(describe(shape))")
        }
        let view = OnnxValue(viewOf: x, shape: shape)
        // The sliding axis survives a view that keeps it whole: same rows, same elements before and after.
        if let (outer, rows, inner) = x.slideGeometry, let step = x.slide?.step {
            view.slide = shape.indices.first { a in
                shape[a] == rows && shape[..<a].reduce(1, *) == outer && shape[(a + 1)...].reduce(1, *) == inner
            }.map { Slide(axis: $0, step: step) }
        }
        return Planned([view], kernel: nil)
    }

    static func shape(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        let x = try c.input(0)
        let value = OnnxValue(type: .int64, shape: [x.rank], constant: true)
        for (k, d) in x.shape.enumerated() { value.i[k] = Int64(d) }
        return Planned([value], kernel: nil)
    }

    static func reshapeOp(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["allowzero"])
        guard try c.int("allowzero", default: 0) == 0 else { throw OpError(.unsupportedModel, "allowzero=1 is not supported") }
        let x = try c.input(0)
        var shape = try c.input(1).intValues("the target shape")
        var inferred: Int?
        for k in shape.indices {
            if shape[k] == 0 {
                guard k < x.rank else { throw OpError(.shapeMismatch, "dimension \(k) copies from an input of rank \(x.rank)") }
                shape[k] = x.shape[k]
            } else if shape[k] == -1 {
                guard inferred == nil else { throw OpError(.invalidGraph, "more than one -1 in the target shape") }
                inferred = k
            } else if shape[k] < -1 {
                throw OpError(.invalidGraph, "dimension \(shape[k]) in the target shape")
            }
        }
        if let k = inferred {
            let known = try elementCount(shape.enumerated().filter { $0.offset != k }.map(\.element))
            guard known > 0, x.count % known == 0 else { throw OpError(.shapeMismatch, "cannot reshape \(describe(x.shape)) to \(describe(shape))") }
            shape[k] = x.count / known
        }
        return try reshape(c, to: shape)
    }

    static func flatten(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["axis"])
        let x = try c.input(0)
        let raw = try c.int("axis", default: 1)
        let axis = raw < 0 ? raw + x.rank : raw
        guard axis >= 0, axis <= x.rank else { throw OpError(.invalidGraph, "axis \(raw) is out of range for rank \(x.rank)") }
        return try reshape(c, to: [x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])
    }

    /// Axes from the `axes` input (opset ≥ 13) or attribute (before 13).
    private static func axes(_ c: OpContext, rank: Int) throws(OpError) -> [Int]? {
        let raw: [Int]?
        if c.opset >= 13 {
            raw = try c.optionalInput(1)?.intValues("axes")
        } else {
            raw = try c.ints("axes")
        }
        guard let raw else { return nil }
        var result: [Int] = []
        for a in raw { result.append(try normalizedAxis(a, rank: rank)) }
        guard Set(result).count == result.count else { throw OpError(.invalidGraph, "axes \(raw) repeat an axis") }
        return result
    }

    static func squeeze(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(c.opset >= 13 ? [] : ["axes"])
        let x = try c.input(0)
        let drop = try axes(c, rank: x.rank) ?? x.shape.indices.filter { x.shape[$0] == 1 }
        for a in drop where x.shape[a] != 1 {
            throw OpError(.shapeMismatch, "cannot squeeze axis \(a) of \(describe(x.shape)): its size is not 1")
        }
        return try reshape(c, to: x.shape.indices.filter { !drop.contains($0) }.map { x.shape[$0] })
    }

    static func unsqueeze(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(c.opset >= 13 ? [] : ["axes"])
        let x = try c.input(0)
        let added = c.opset >= 13 ? try c.input(1).count : (try c.ints("axes")?.count ?? 0)
        let outRank = x.rank + added
        guard let insert = try axes(c, rank: outRank) else { throw OpError(.invalidGraph, "axes are missing") }
        var shape: [Int] = []
        var rest = x.shape.makeIterator()
        for k in 0..<outRank { shape.append(insert.contains(k) ? 1 : rest.next()!) }
        return try reshape(c, to: shape)
    }

    /// A kernel that fills `out` from `x` through an index map computed when planning
    /// (`map[k] < 0` writes `fill`). Used for transposes, slices, expands, gathers and pads.
    static func gatherKernel(_ x: OnnxValue, _ out: OnnxValue, map: [Int32], fill: Float = 0) -> () -> Void {
        if x.type.isFloat {
            return {
                let src = x.f, dst = out.f
                map.withUnsafeBufferPointer { m in
                    for k in 0..<m.count { dst[k] = m[k] >= 0 ? src[Int(m[k])] : fill }
                }
            }
        }
        let fillInt = Int64(fill)
        return {
            let src = x.i, dst = out.i
            map.withUnsafeBufferPointer { m in
                for k in 0..<m.count { dst[k] = m[k] >= 0 ? src[Int(m[k])] : fillInt }
            }
        }
    }

    /// Visits every multi-index of `shape` in row-major order, passing the index to `body`.
    static func forEachIndex(_ shape: [Int], _ body: ([Int]) throws(OpError) -> Void) throws(OpError) {
        let count = try elementCount(shape)
        guard count > 0 else { return }
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0..<count {
            try body(index)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }

    static func transpose(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["perm"])
        let x = try c.input(0)
        let perm = try c.ints("perm") ?? Array((0..<x.rank).reversed())
        guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
            throw OpError(.invalidGraph, "perm \(perm) is not a permutation of the \(x.rank) axes")
        }
        let shape = perm.map { x.shape[$0] }
        let inStrides = strides(of: x.shape)
        var map: [Int32] = []
        map.reserveCapacity(x.count)
        try forEachIndex(shape) { index throws(OpError) in
            var offset = 0
            for (d, p) in perm.enumerated() { offset += index[d] * inStrides[p] }
            map.append(Int32(offset))
        }
        let out = try OnnxValue.checked(type: x.type, shape: shape)
        return Planned([out], kernel: gatherKernel(x, out, map: map))
    }

    static func cast(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["to", "saturate"])
        let x = try c.input(0)
        let code = try c.int("to")
        guard let type = ElementType(onnx: code) else { throw OpError(.unsupportedModel, "cast to data type \(code) is not supported") }
        let out = try OnnxValue.checked(type: type, shape: x.shape)
        return Planned([out], kernel: {
            for k in 0..<x.count {
                switch (x.type.isFloat, type) {
                case (true, .float32): out.f[k] = x.f[k]
                case (true, .bool): out.i[k] = x.f[k] != 0 ? 1 : 0
                case (true, _): out.i[k] = x.f[k].isFinite ? Int64(x.f[k]) : 0
                case (false, .float32): out.f[k] = Float(x.i[k])
                case (false, .bool): out.i[k] = x.i[k] != 0 ? 1 : 0
                case (false, .int32): out.i[k] = Int64(Int32(truncatingIfNeeded: x.i[k]))
                case (false, _): out.i[k] = x.i[k]
                }
            }
        })
    }

    static func gather(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["axis"])
        let x = try c.input(0)
        let indices = try c.input(1)
        let axis = try normalizedAxis(c.int("axis", default: 0), rank: x.rank)
        let idx = try indices.intValues("indices")
        let outShape = Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...])
        let outer = x.shape[..<axis].reduce(1, *)
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        var map: [Int32] = []
        for o in 0..<outer {
            for raw in idx {
                let j = raw < 0 ? raw + x.shape[axis] : raw
                guard j >= 0, j < x.shape[axis] else { throw OpError(.invalidGraph, "index \(raw) is out of range for axis of size \(x.shape[axis])") }
                for q in 0..<inner { map.append(Int32((o * x.shape[axis] + j) * inner + q)) }
            }
        }
        let out = try OnnxValue.checked(type: x.type, shape: outShape)
        return Planned([out], kernel: gatherKernel(x, out, map: map))
    }

    static func slice(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        try c.requireInputs(3...5)
        let x = try c.input(0)
        let starts = try c.input(1).intValues("starts")
        let ends = try c.input(2).intValues("ends")
        let axes = try c.optionalInput(3)?.intValues("axes") ?? Array(0..<starts.count)
        let steps = try c.optionalInput(4)?.intValues("steps") ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw OpError(.invalidGraph, "starts, ends, axes and steps differ in length")
        }
        var first = [Int](repeating: 0, count: x.rank)
        var step = [Int](repeating: 1, count: x.rank)
        var shape = x.shape
        for k in starts.indices {
            let a = try normalizedAxis(axes[k], rank: x.rank)
            let n = x.shape[a]
            guard steps[k] != 0 else { throw OpError(.invalidGraph, "step 0 on axis \(a)") }
            func clampIndex(_ v: Int, low: Int, high: Int) -> Int { min(max(v < 0 ? v + n : v, low), high) }
            let s: Int, e: Int
            if steps[k] > 0 {
                s = clampIndex(starts[k], low: 0, high: n)
                e = clampIndex(ends[k], low: 0, high: n)
                shape[a] = max(0, (e - s + steps[k] - 1) / steps[k])
            } else {
                s = clampIndex(starts[k], low: -1, high: n - 1)
                e = clampIndex(ends[k], low: -1, high: n - 1)
                shape[a] = max(0, (s - e + (-steps[k]) - 1) / (-steps[k]))
            }
            first[a] = s
            step[a] = steps[k]
        }
        let inStrides = strides(of: x.shape)
        var map: [Int32] = []
        try forEachIndex(shape) { index throws(OpError) in
            var offset = 0
            for d in 0..<x.rank { offset += (first[d] + index[d] * step[d]) * inStrides[d] }
            map.append(Int32(offset))
        }
        let out = try OnnxValue.checked(type: x.type, shape: shape)
        return Planned([out], kernel: gatherKernel(x, out, map: map))
    }

    static func concat(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["axis"])
        let parts = try c.inputs.indices.map { k throws(OpError) in try c.input(k) }
        guard let head = parts.first else { throw OpError(.invalidGraph, "no inputs") }
        let axis = try normalizedAxis(c.int("axis"), rank: head.rank)
        var shape = head.shape
        shape[axis] = 0
        for p in parts {
            guard p.rank == head.rank, p.type.isFloat == head.type.isFloat,
                  p.shape.indices.allSatisfy({ $0 == axis || p.shape[$0] == head.shape[$0] }) else {
                throw OpError(.shapeMismatch, "cannot concatenate \(describe(p.shape)) with \(describe(head.shape)) on axis \(axis)")
            }
            shape[axis] += p.shape[axis]
        }
        let out = try OnnxValue.checked(type: head.type, shape: shape)
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let rowOut = shape[axis] * inner
        return Planned([out], kernel: {
            var column = 0
            for p in parts {
                let block = p.shape[axis] * inner
                for o in 0..<outer {
                    if out.type.isFloat {
                        (out.f + o * rowOut + column).update(from: p.f + o * block, count: block)
                    } else {
                        (out.i + o * rowOut + column).update(from: p.i + o * block, count: block)
                    }
                }
                column += block
            }
        })
    }

    /// Index map broadcasting `from` (numpy rules, aligned right) to `shape`.
    static func broadcastMap(from: [Int], to shape: [Int]) throws(OpError) -> [Int32] {
        let offset = shape.count - from.count
        let inStrides = strides(of: from)
        var map: [Int32] = []
        try forEachIndex(shape) { index throws(OpError) in
            var k = 0
            for d in 0..<from.count where from[d] != 1 { k += index[d + offset] * inStrides[d] }
            map.append(Int32(k))
        }
        return map
    }

    static func expand(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        let x = try c.input(0)
        let target = try c.input(1).intValues("the target shape")
        let shape = try broadcastShape(x.shape, target)
        let out = try OnnxValue.checked(type: x.type, shape: shape)
        return Planned([out], kernel: gatherKernel(x, out, map: try broadcastMap(from: x.shape, to: shape)))
    }

    static func pad(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["mode"])
        guard (try c.string("mode") ?? "constant") == "constant" else { throw OpError(.unsupportedModel, "only constant padding is supported") }
        let x = try c.input(0)
        let pads = try c.input(1).intValues("pads")
        guard pads.count == 2 * x.rank else { throw OpError(.invalidGraph, "pads has \(pads.count) values for rank \(x.rank)") }
        var fill: Float = 0
        if let v = c.optionalInput(2) {
            guard v.isConstant, v.count == 1 else { throw OpError(.unsupportedModel, "the padding value must be a constant scalar") }
            fill = v.float(at: 0)
        }
        let shape = (0..<x.rank).map { x.shape[$0] + pads[$0] + pads[$0 + x.rank] }
        guard shape.allSatisfy({ $0 > 0 }) else { throw OpError(.shapeMismatch, "padding \(pads) empties \(describe(x.shape))") }
        let inStrides = strides(of: x.shape)
        var map: [Int32] = []
        try forEachIndex(shape) { index throws(OpError) in
            var k = 0
            for d in 0..<x.rank {
                let j = index[d] - pads[d]
                if j < 0 || j >= x.shape[d] { k = -1; break }
                k += j * inStrides[d]
            }
            map.append(Int32(k))
        }
        let out = try OnnxValue.checked(type: x.type, shape: shape)
        var tail: (() -> Void)?
        if let slide = x.slide, x.type.isFloat, pads[slide.axis] == 0, pads[slide.axis + x.rank] == 0 {
            out.slide = slide
            tail = {
                out.shiftRows()
                let src = x.f, dst = out.f
                out.forEachNewRange { start, count in
                    for k in start..<(start + count) { dst[k] = map[k] >= 0 ? src[Int(map[k])] : fill }
                }
            }
        }
        return Planned([out], kernel: gatherKernel(x, out, map: map, fill: fill), tail: tail)
    }
}

/// The shape two shapes broadcast to (numpy rules), or why they do not.
func broadcastShape(_ a: [Int], _ b: [Int]) throws(OpError) -> [Int] {
    let rank = max(a.count, b.count)
    var shape: [Int] = []
    for d in 0..<rank {
        let x = d < rank - a.count ? 1 : a[d - (rank - a.count)]
        let y = d < rank - b.count ? 1 : b[d - (rank - b.count)]
        guard x == y || x == 1 || y == 1 else { throw OpError(.shapeMismatch, "shapes \(describe(a)) and \(describe(b)) do not broadcast") }
        shape.append(x == 1 ? y : x)
    }
    return shape
}
