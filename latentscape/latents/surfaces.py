"""What the scene templates are made of, as data (no Blender): the names behind the `ground_material`
and `room_material` indices, the room's geometry and window light, and each surface's measured albedo.
`latentscape.blender_scenes` builds the templates from these; `latents/surround.py` predicts what the
camera sees around the object from the same numbers."""
from __future__ import annotations

GROUND_MATERIALS = ("checker", "grass", "asphalt", "sand")
ROOM_STYLES = ("oak-plaster", "tiles-blue", "concrete-brick", "carpet-beige")
# The room's geometry (room.py builds it; latents/surround.py predicts what it shows): metres from the
# camera to each wall, floor to ceiling; the window in the front wall (x0, x1 along it, y0, y1 above the
# floor) and the area light filling it (watts, linear colour).
ROOM_HALF_WIDTH, ROOM_HEIGHT = 6.0, 3.0
ROOM_WINDOW = (-1.5, 1.5, 0.9, 2.4)
WINDOW_WATTS, WINDOW_COLOUR = 150.0, (1.0, 0.97, 0.92)
GROUND_HALF_SIZE = 500.0  # m; at 1 m height its edge lies 0.11 deg below the horizon: under a pixel
CEILING_RGB = (0.45, 0.45, 0.45)

# Each surface's albedo as the camera sees it (specular of a uniform world included), as 8 equal-weight
# linear RGB entries from its darkest to its brightest eighth of pixels: measured by
# benchmarks/surface_albedo.py (Blender 5.0.1; results/surface_albedo.json), checked against Blender by
# tests/test_scene_contrast.py. Keys: GROUND_MATERIALS, and "<room style>/floor" | "/wall".
SURFACE_ALBEDO = {
    'checker': (
        (0.1428, 0.1428, 0.1428), (0.1515, 0.1515, 0.1515), (0.1563, 0.1563, 0.1563), (0.2276, 0.2276, 0.2276),
        (0.4840, 0.4840, 0.4840), (0.5585, 0.5585, 0.5585), (0.5664, 0.5664, 0.5664), (0.5749, 0.5749, 0.5749),
    ),
    'grass': (
        (0.0846, 0.1865, 0.0433), (0.0907, 0.1982, 0.0458), (0.0949, 0.2050, 0.0471), (0.0980, 0.2102, 0.0485),
        (0.1007, 0.2150, 0.0496), (0.1055, 0.2194, 0.0509), (0.1097, 0.2250, 0.0528), (0.1182, 0.2338, 0.0558),
    ),
    'asphalt': (
        (0.0977, 0.0977, 0.0974), (0.1029, 0.1029, 0.1021), (0.1057, 0.1057, 0.1055), (0.1073, 0.1073, 0.1062),
        (0.1090, 0.1090, 0.1090), (0.1112, 0.1112, 0.1104), (0.1133, 0.1133, 0.1124), (0.1164, 0.1164, 0.1160),
    ),
    'sand': (
        (0.4723, 0.3808, 0.2440), (0.4878, 0.3935, 0.2530), (0.4972, 0.4015, 0.2586), (0.5062, 0.4089, 0.2631),
        (0.5135, 0.4149, 0.2664), (0.5185, 0.4194, 0.2713), (0.5245, 0.4251, 0.2753), (0.5353, 0.4350, 0.2832),
    ),
    'oak-plaster/floor': (
        (0.2683, 0.1501, 0.0831), (0.2842, 0.1586, 0.0870), (0.2941, 0.1644, 0.0890), (0.3029, 0.1702, 0.0910),
        (0.3136, 0.1757, 0.0928), (0.3240, 0.1822, 0.0951), (0.3367, 0.1892, 0.0977), (0.3560, 0.2004, 0.1018),
    ),
    'oak-plaster/wall': (
        (0.4441, 0.4351, 0.4018), (0.4522, 0.4426, 0.4104), (0.4680, 0.4593, 0.4237), (0.4755, 0.4622, 0.4317),
        (0.4768, 0.4691, 0.4317), (0.4768, 0.4691, 0.4318), (0.4840, 0.4704, 0.4390), (0.4861, 0.4773, 0.4403),
    ),
    'tiles-blue/floor': (
        (0.3429, 0.3459, 0.3414), (0.3827, 0.3864, 0.3806), (0.4123, 0.4168, 0.4106), (0.4383, 0.4438, 0.4376),
        (0.4548, 0.4612, 0.4556), (0.4695, 0.4744, 0.4660), (0.4854, 0.4893, 0.4784), (0.5067, 0.5085, 0.4924),
    ),
    'tiles-blue/wall': (
        (0.2495, 0.3890, 0.5764), (0.2546, 0.3961, 0.5835), (0.2638, 0.4116, 0.6055), (0.2657, 0.4173, 0.6182),
        (0.2679, 0.4173, 0.6189), (0.2713, 0.4173, 0.6189), (0.2713, 0.4197, 0.6189), (0.2713, 0.4245, 0.6235),
    ),
    'concrete-brick/floor': (
        (0.2697, 0.2697, 0.2563), (0.2770, 0.2770, 0.2633), (0.2825, 0.2825, 0.2678), (0.2878, 0.2878, 0.2727),
        (0.2926, 0.2926, 0.2769), (0.2955, 0.2955, 0.2818), (0.2999, 0.2999, 0.2841), (0.3061, 0.3061, 0.2903),
    ),
    'concrete-brick/wall': (
        (0.3468, 0.1272, 0.0825), (0.3622, 0.1420, 0.0962), (0.3710, 0.1506, 0.1038), (0.3781, 0.1574, 0.1103),
        (0.3851, 0.1643, 0.1168), (0.3900, 0.1727, 0.1248), (0.3977, 0.1821, 0.1343), (0.4087, 0.2013, 0.1535),
    ),
    'carpet-beige/floor': (
        (0.2909, 0.1085, 0.0994), (0.3046, 0.1124, 0.1035), (0.3059, 0.1156, 0.1057), (0.3099, 0.1156, 0.1057),
        (0.3140, 0.1174, 0.1075), (0.3240, 0.1211, 0.1111), (0.3271, 0.1225, 0.1123), (0.3309, 0.1238, 0.1132),
    ),
    'carpet-beige/wall': (
        (0.4380, 0.3898, 0.2980), (0.4405, 0.3961, 0.2999), (0.4560, 0.4080, 0.3112), (0.4690, 0.4173, 0.3179),
        (0.4691, 0.4173, 0.3179), (0.4691, 0.4173, 0.3179), (0.4691, 0.4224, 0.3205), (0.4745, 0.4245, 0.3241),
    ),
}
