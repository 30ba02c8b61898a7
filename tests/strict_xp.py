"""A strict stand-in for CuPy, on NumPy: an array module whose arrays refuse what CuPy refuses.

Its arrays play device arrays. They are not ``numpy.ndarray`` subclasses but wrappers around one, and
they raise TypeError on (CuPy's rules, from cupy/_core/core.pyx and _routines_indexing.pyx):
- an implicit conversion to NumPy: ``np.asarray(x)``, ``np.array(x)``, a Generator given ``x``;
- arithmetic or comparison with a host ``numpy.ndarray`` (either side, in-place too), and a host array
  given to one of this module's functions (only ``asarray``/``array`` move host arrays to the device);
- a NumPy function applied to them (``np.sort(x)``; CuPy dispatches these, we err strict);
- ``__index__``: a 0-d array is no Python index (``a_list[x]``), as in CuPy.
What CuPy allows works the same way: host scalars (Python or NumPy) as operands, NumPy ufuncs such as
``np.exp(x)``, lists and host integer arrays as indices, a host array assigned into ``x[...]``, and
``float``/``int``/``bool`` of a one-element array. Reductions and scalar indexing give 0-d arrays, as
CuPy's do. ``x.get()`` and ``asnumpy(x)`` are the explicit device -> host copies. dtypes, constants and
``finfo`` are NumPy's, as in CuPy; submodules (``linalg``) follow the same rules.
"""
import functools
import types

import numpy as np


class StrictArray:
    """A device array: a NumPy array behind the rules above."""

    __slots__ = ("_array",)

    def __init__(self, array):
        self._array = np.asarray(array)

    def get(self):
        """Return a NumPy copy (the explicit device -> host transfer)."""
        return self._array.copy()

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed: use .get() or to_numpy")

    def __array_function__(self, func, relevant_types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} applied to a device array: use xp.{func.__name__}")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _apply_ufunc(ufunc, method, inputs, kwargs)

    def __getattr__(self, name):  # methods and attributes of the NumPy array, results on the device
        if name.startswith("__") or name == "_array":  # no __array_interface__ etc.: NumPy would use it
            raise AttributeError(name)
        value = getattr(self._array, name)
        return _on_device(value, name) if callable(value) else _to_device(value)

    def __getitem__(self, key):
        return _to_device(self._array[_index(key)])

    def __setitem__(self, key, value):
        self._array[_index(key)] = value._array if isinstance(value, StrictArray) else value

    def __len__(self):
        return len(self._array)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        return bool(self._array)

    def __int__(self):
        return int(self._array)

    def __float__(self):
        return float(self._array)

    def __complex__(self):
        return complex(self._array)

    def __repr__(self):
        return f"device({self._array!r})"

    def __format__(self, spec):
        return format(self._array, spec)


def _apply_ufunc(ufunc, method, inputs, kwargs):
    """Apply a NumPy ufunc with CuPy's operand rules: device arrays and host scalars only."""
    if "out" in kwargs:
        kwargs = {**kwargs, "out": tuple(_operand(out) for out in kwargs["out"])}
    return _to_device(getattr(ufunc, method)(*map(_operand, inputs), **kwargs))


def _operand(value):
    if isinstance(value, StrictArray):
        return value._array
    if isinstance(value, (int, float, complex, np.generic)):  # bool is an int
        return value
    raise TypeError(f"a device array operand mixed with {type(value).__name__}: move it with xp.asarray")


def _binary(ufunc, reflected=False):
    def method(self, other):
        return _apply_ufunc(ufunc, "__call__", (other, self) if reflected else (self, other), {})
    return method


def _in_place(ufunc):
    def method(self, other):
        _apply_ufunc(ufunc, "__call__", (self, other), {"out": (self,)})
        return self
    return method


def _unary(ufunc):
    return lambda self: _apply_ufunc(ufunc, "__call__", (self,), {})


for name, ufunc in dict(add=np.add, sub=np.subtract, mul=np.multiply, truediv=np.true_divide,
                        floordiv=np.floor_divide, mod=np.remainder, pow=np.power, matmul=np.matmul,
                        and_=np.bitwise_and, or_=np.bitwise_or, xor=np.bitwise_xor).items():
    name = name.rstrip("_")
    setattr(StrictArray, f"__{name}__", _binary(ufunc))
    setattr(StrictArray, f"__r{name}__", _binary(ufunc, reflected=True))
    setattr(StrictArray, f"__i{name}__", _in_place(ufunc))
for name, ufunc in dict(lt=np.less, le=np.less_equal, eq=np.equal, ne=np.not_equal, gt=np.greater,
                        ge=np.greater_equal).items():  # Python reflects a comparison to its mirror image
    setattr(StrictArray, f"__{name}__", _binary(ufunc))
for name, ufunc in dict(neg=np.negative, pos=np.positive, abs=np.absolute, invert=np.invert).items():
    setattr(StrictArray, f"__{name}__", _unary(ufunc))
del name, ufunc


def _index(key):
    """An index into a device array: device arrays, and what CuPy moves there (lists, host arrays, ints)."""
    if isinstance(key, tuple):
        return tuple(map(_index, key))
    return key._array if isinstance(key, StrictArray) else key


def _argument(value, where):
    """An argument of a device function: device arrays unwrapped; host arrays and lists refused, but lists
    of device arrays (``xp.concatenate([a, b])``). Tuples may hold numbers: shapes and axes."""
    if isinstance(value, StrictArray):
        return value._array
    listed_host = isinstance(value, list) and not all(isinstance(item, StrictArray) for item in value)
    if isinstance(value, np.ndarray) or listed_host:
        raise TypeError(f"a host {type(value).__name__} passed to {where}: move it with xp.asarray")
    if isinstance(value, (list, tuple)):
        return type(value)(_argument(item, where) for item in value)
    return value


def _to_device(value):
    """NumPy arrays and scalars (also inside tuples and lists) as device arrays; anything else as is."""
    if isinstance(value, (np.ndarray, np.generic)):
        return StrictArray(value)
    if isinstance(value, (list, tuple)):
        return type(value)(map(_to_device, value))
    return value


def _on_device(function, name):
    """``function`` taking and returning device arrays."""
    @functools.wraps(function)
    def call(*args, **kwargs):
        args = _argument(args, name)
        kwargs = {key: _argument(value, name) for key, value in kwargs.items()}
        return _to_device(function(*args, **kwargs))
    return call


class _Namespace:
    """A NumPy namespace (numpy, numpy.linalg, ...) whose functions take and return device arrays."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name == "ndarray":
            return StrictArray
        value = getattr(self._module, name)
        if isinstance(value, types.ModuleType):
            return _Namespace(value)
        if isinstance(value, type) or not callable(value):  # dtypes, finfo, inf, newaxis: NumPy's, as in CuPy
            return value
        return _on_device(value, f"xp.{name}")


def asarray(value, dtype=None):
    """Return ``value`` (host array, list, scalar or device array) as a device array."""
    return StrictArray(np.asarray(value._array if isinstance(value, StrictArray) else value, dtype=dtype))


def array(value, dtype=None, copy=True):
    """Return a device array copied (if ``copy``) from ``value``."""
    host = value._array if isinstance(value, StrictArray) else value
    return StrictArray(np.array(host, dtype=dtype, copy=copy))


def asnumpy(value):
    """Return a NumPy copy of a device array (a host array as it is)."""
    return value.get() if isinstance(value, StrictArray) else np.asarray(value)


_numpy = _Namespace(np)


def __getattr__(name):  # every other NumPy name, as this module's (PEP 562)
    return getattr(_numpy, name)
