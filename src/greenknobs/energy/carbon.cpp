// Carbon-intensity lookup; the table and its source are in carbon_table.cpp and
// docs/measurement.md.
#include "greenknobs/energy/carbon.h"

#include <cctype>

namespace gk::energy {

namespace {

const char* kTableSource =
    "Our World in Data energy dataset, carbon_intensity_elec (Ember; Energy Institute)";

}  // namespace

CarbonIntensity carbon_intensity(const std::string& country_iso_code, double override_g_per_kwh) {
    std::string iso;
    for (char c : country_iso_code) {
        iso += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    CarbonIntensity ci;
    ci.country_iso_code = iso.empty() ? "WORLD" : iso;
    if (override_g_per_kwh > 0) {
        ci.g_per_kwh = override_g_per_kwh;
        ci.source = "override (carbon_g_per_kwh)";
        return ci;
    }
    if (!iso.empty() && iso != "WORLD") {
        for (const auto& e : country_intensity_table()) {
            if (iso == e.iso3) {
                ci.g_per_kwh = e.g_per_kwh;
                ci.country_name = e.country;
                ci.year = e.year;
                ci.source = std::string(e.country) + ", " + std::to_string(e.year) + " (" +
                            kTableSource + ")";
                return ci;
            }
        }
        ci.warning = "country code '" + country_iso_code +
                     "' is not an ISO 3166 alpha-3 code in the carbon table; the world average is "
                     "used (give carbon_g_per_kwh for a published number)";
        ci.country_iso_code = "WORLD";
    }
    ci.g_per_kwh = kWorldGPerKwh;
    ci.country_name = "World";
    ci.year = kWorldYear;
    ci.source = "world average, " + std::to_string(kWorldYear) + " (" + kTableSource + ")";
    return ci;
}

}  // namespace gk::energy
